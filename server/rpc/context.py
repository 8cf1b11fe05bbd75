"""The type of the per-call context every servicer method receives.

Services import it from here rather than from the interceptor, so a servicer
depends on what a call is, not on how the pipeline wraps it.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc

# A string: the grpc classes are generic only in their type stubs.
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
