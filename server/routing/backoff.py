"""Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter").

The wait before retry round n (from 0) is uniform in [0, min(cap, base * 2**n)]: spread
out, so clients throttled together do not come back together.
"""

from __future__ import annotations

import random

_RANDOM = random.SystemRandom()


def full_jitter(retry: int, base_s: float, cap_s: float) -> float:
    """Seconds to wait before retry number `retry` (0 for the first retry)."""
    return _RANDOM.uniform(0, min(cap_s, base_s * 2 ** min(retry, 32)))
