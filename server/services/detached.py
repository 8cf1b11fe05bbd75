"""Upstream calls that outlive the RPC that started them, so every Bedrock call is charged.

Once a unary request has gone to Bedrock, Bedrock generates (and AWS bills) the whole answer
whatever our client does next. So the part of a unary handler that calls Bedrock and records
the request runs as a task of its own: when the client disconnects or its gRPC deadline passes,
grpc cancels the handler, but `asyncio.shield` keeps that cancellation from reaching the task,
which settles the reservation with the real usage when Bedrock answers (outcome `cancelled`),
or with the reservation's bound if Bedrock never answers (the Bedrock client's timeout bounds
how long that takes). The reservation is held until then, so abandoned calls cannot slip past
the quota. This works the same for a Bedrock client on threads (the awaited future of a worker
thread) and for one on the event loop (an awaited coroutine): either is only ever awaited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from llmgw.server.services.recording import RequestTrace

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class DetachedCalls:
    """Runs each unary call's upstream part out of reach of the handler's cancellation.

    How long the part may take is bounded by the router (BEDROCK_TOTAL_TIMEOUT_SECONDS,
    retries included), which every unary model call goes through.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self, trace: RequestTrace, work: Coroutine[Any, Any, _T]) -> _T:
        """Await `work` (Bedrock call plus recording); if the caller goes away, let it finish alone.

        The trace is marked abandoned, so `work` records the request as cancelled, charged for
        what Bedrock reports.
        """
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            trace.abandoned = True
            raise

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: the abandoned caller no longer awaits it, and work recorded it

    async def wait(self, grace_seconds: float) -> int:
        """On shutdown: let running calls settle for up to `grace_seconds`, then cancel the rest.

        A cancelled call records itself, charged its reservation's bound. Returns how many
        were cancelled.
        """
        pending = set(self._tasks)
        if not pending:
            return 0
        _, still = await asyncio.wait(pending, timeout=grace_seconds)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still)
            logger.warning("shutdown: %d Bedrock call(s) abandoned by their clients were still running", len(still))
        return len(still)
