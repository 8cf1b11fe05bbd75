"""The router: one request's attempts across a route's targets and fallbacks, with retries and breakers.

Above one Bedrock client per region. For each request the caller gives the candidates
in order (the route's targets, then those of the fallbacks the caller may use). A round
tries every candidate whose breaker lets it through; a failure that a retry could fix
(throttling, 5xx, timeouts, connection errors) moves on to the next candidate at once,
and when a whole round failed the next one starts after an exponential backoff with
full jitter, up to BEDROCK_MAX_ATTEMPTS rounds, all within the request's deadline
(BEDROCK_TOTAL_TIMEOUT_SECONDS). Any other failure (the caller's bad request, access
denied) ends the request at once. When every breaker is open the request fails at
once with UpstreamThrottled rather than waiting.

A stream fails over only until its first content event has been handed over: the items
before it (ConverseStream's messageStart; Anthropic's message_start, ping and
content_block_start) are held back, so the caller has sent nothing when another target
takes over. The caller says which item is content (`answering`), so the router reads no
provider's event format. After that, errors reach the caller in-band. A stream must send
its first content within BEDROCK_FIRST_BYTE_TIMEOUT_SECONDS and then an event at least
every BEDROCK_IDLE_TIMEOUT_SECONDS, or it ends with UpstreamTimeout (DEADLINE_EXCEEDED).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from llmgw.server.providers.bedrock.client import BedrockClient
from llmgw.server.providers.bedrock.errors import is_retryable
from llmgw.server.routing.backoff import full_jitter
from llmgw.server.routing.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from llmgw.server.routing.silence import SilenceTimer
from llmgw.server.routing.table import Target
from llmgw.wire.errors import GatewayError, UpstreamThrottled, UpstreamTimeout

_T = TypeVar("_T")
_E = TypeVar("_E")


class RouterObserver(Protocol):
    """Where the router reports what it did (the gateway's metrics)."""

    def attempt(self, region: str, model: str, outcome: str) -> None:
        """One call to Bedrock ended: `success`, or the failure's reason in lowercase."""

    def failover(self, region: str, model: str) -> None:
        """A request left this target, after it failed, for another target."""

    def breaker_transition(self, region: str, model: str, state: BreakerState) -> None:
        """A target's breaker moved to `state`."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many rounds, how long to back off between them, and the timeouts (the BEDROCK_* settings)."""

    max_rounds: int = 3
    backoff_base_s: float = 0.1
    backoff_max_s: float = 5.0
    first_byte_timeout_s: float = 60.0
    idle_timeout_s: float = 30.0
    total_timeout_s: float = 600.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A place to try: the public model id that would answer, and the target to call for it.

    `upstream_id` is the id to send when it is not the target's catalog id (an
    application inference profile's ARN, priced as its base model).
    """

    public_model: str
    target: Target
    upstream_id: str = ""

    @property
    def sent_id(self) -> str:
        """The model id Bedrock is sent for this candidate."""
        return self.upstream_id or self.target.called_id


@dataclass(slots=True)
class Progress:
    """What a request's routing has done so far; read for the request log, also when it failed."""

    attempts: int = 0
    candidate: Candidate | None = None


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """A target's breaker as the admin API shows it."""

    region: str
    model: str
    state: BreakerState
    consecutive_failures: int


class Router:
    """Attempts over per-region clients, with one breaker per (region, model id)."""

    def __init__(
        self,
        clients: Mapping[str, BedrockClient],
        policy: RetryPolicy,
        breaker_policy: BreakerPolicy,
        observer: RouterObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = dict(clients)
        self._policy = policy
        self._breaker_policy = breaker_policy
        self._observer = observer
        self._clock = clock
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}

    def breaker(self, target: Target) -> CircuitBreaker:
        """The breaker of a target, made closed on first use."""
        key = (target.region, target.called_id)
        breaker = self._breakers.get(key)
        if breaker is None:

            def report(old: BreakerState, new: BreakerState) -> None:
                if self._observer is not None:
                    self._observer.breaker_transition(key[0], key[1], new)

            breaker = self._breakers[key] = CircuitBreaker(self._breaker_policy, report, self._clock)
        return breaker

    def status(self, targets: Iterable[Target]) -> list[TargetStatus]:
        """The breaker state of each target."""
        statuses = []
        for target in targets:
            breaker = self.breaker(target)
            statuses.append(TargetStatus(target.region, target.called_id, breaker.state, breaker.consecutive_failures))
        return statuses

    async def close(self) -> None:
        """Close every region's client."""
        for client in self._clients.values():
            await client.close()

    async def call(
        self,
        candidates: Sequence[Candidate],
        operation: Callable[[BedrockClient, Candidate], Awaitable[_T]],
        progress: Progress,
    ) -> _T:
        """One unary call (Converse, InvokeModel), retried and failed over; the first answer wins."""
        deadline = self._clock() + self._policy.total_timeout_s

        async def attempt(candidate: Candidate, ticket: int) -> _T:
            client = self._clients[candidate.target.region]
            try:
                async with asyncio.timeout(self._remaining(deadline)):
                    result = await operation(client, candidate)
            except TimeoutError:
                raise _total_timeout(candidate, self._policy.total_timeout_s) from None
            self.breaker(candidate.target).success(ticket)
            self._report(candidate, None)
            return result

        return await self._attempts(candidates, attempt, progress, deadline)

    async def stream(
        self,
        candidates: Sequence[Candidate],
        open_stream: Callable[[BedrockClient, Candidate], AsyncGenerator[_E, None]],
        progress: Progress,
        answering: Callable[[_E], bool],
    ) -> AsyncGenerator[_E, None]:
        """A stream of items (events, or batches of them), failed over until its first content item.

        `open_stream` opens it on a target's client; iterate the result to the end, or close it.
        `answering(item)` says whether an item is content: the first one ends the failover, and
        the items before it are held back until then.

        The target's breaker counts a success at the first content event, and a failure
        if the stream then breaks in a way that is the target's fault (silence, 5xx).
        """
        deadline = self._clock() + self._policy.total_timeout_s

        async def attempt(candidate: Candidate, ticket: int) -> AsyncGenerator[_E, None]:
            events = open_stream(self._clients[candidate.target.region], candidate)
            held: list[_E] = []
            wait = min(self._policy.first_byte_timeout_s, self._remaining(deadline))
            try:
                async with asyncio.timeout(wait):
                    async for item in events:
                        held.append(item)
                        if answering(item):
                            break
            except TimeoutError:
                await events.aclose()
                raise UpstreamTimeout(
                    f"Bedrock sent no answer for the model '{candidate.target.model.id}' in "
                    f"{candidate.target.region} within {wait:g} s."
                ) from None
            except BaseException:
                await events.aclose()
                raise
            # The target answered: a success for its breaker now, not when a long generation ends,
            # or failures (which come back at once) would pile up as a "consecutive" run under load.
            self.breaker(candidate.target).success(ticket)
            return self._rest(candidate, ticket, events, held, deadline)

        return await self._attempts(candidates, attempt, progress, deadline)

    async def _rest(
        self, candidate: Candidate, ticket: int, events: AsyncGenerator[_E, None], held: list[_E], deadline: float
    ) -> AsyncGenerator[_E, None]:
        """The held items, then the rest of the stream under the idle and total timeouts."""
        breaker = self.breaker(candidate.target)
        target = candidate.target
        verdict: bool | None = None
        silence = SilenceTimer()
        try:
            for item in held:
                yield item
            while True:
                remaining = self._remaining(deadline)
                wait = min(self._policy.idle_timeout_s, remaining)
                try:
                    item = await silence.wait(anext(events), wait)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    if wait < self._policy.idle_timeout_s:
                        raise _total_timeout(candidate, self._policy.total_timeout_s) from None
                    raise UpstreamTimeout(
                        f"Bedrock's stream for the model '{target.model.id}' in {target.region} "
                        f"went silent for {wait:g} s."
                    ) from None
                yield item
            verdict = True
        except GatewayError as exc:
            verdict = False if is_retryable(exc) else None
            self._report(candidate, exc)
            raise
        finally:
            silence.close()
            await events.aclose()
            if verdict is True:
                self._report(candidate, None)
            elif verdict is False:
                breaker.failure(ticket)

    async def _attempts(
        self,
        candidates: Sequence[Candidate],
        attempt: Callable[[Candidate, int], Awaitable[_T]],
        progress: Progress,
        deadline: float,
    ) -> _T:
        """Rounds over the candidates, with backoff between rounds, until one answers."""
        last_error: GatewayError | None = None
        failed: Candidate | None = None
        for round_number in range(self._policy.max_rounds):
            if round_number:
                delay = full_jitter(round_number - 1, self._policy.backoff_base_s, self._policy.backoff_max_s)
                if self._clock() + delay >= deadline:
                    break
                await asyncio.sleep(delay)
            tried = False
            for candidate in candidates:
                breaker = self.breaker(candidate.target)
                ticket = breaker.allow()
                if ticket is None:
                    continue
                if self._remaining(deadline) <= 0:
                    breaker.release(ticket)
                    raise _total_timeout(candidate, self._policy.total_timeout_s)
                tried = True
                if failed is not None and failed.target != candidate.target and self._observer is not None:
                    self._observer.failover(failed.target.region, failed.target.called_id)
                progress.attempts += 1
                progress.candidate = candidate
                try:
                    result = await attempt(candidate, ticket)
                except GatewayError as exc:
                    self._report(candidate, exc)
                    if not is_retryable(exc):
                        breaker.release(ticket)
                        raise
                    breaker.failure(ticket)
                    last_error, failed = exc, candidate
                    continue
                except BaseException:
                    breaker.release(ticket)
                    raise
                return result
            if not tried:
                break
        if last_error is not None:
            raise last_error
        names = ", ".join(f"{c.target.called_id} in {c.target.region}" for c in candidates)
        raise UpstreamThrottled(f"Every target is resting after repeated failures ({names}); retry later.")

    def _report(self, candidate: Candidate, error: GatewayError | None) -> None:
        if self._observer is not None:
            outcome = "success" if error is None else error.reason.lower()
            self._observer.attempt(candidate.target.region, candidate.target.called_id, outcome)

    def _remaining(self, deadline: float) -> float:
        return max(deadline - self._clock(), 0.0)


def _total_timeout(candidate: Candidate, total_s: float) -> UpstreamTimeout:
    return UpstreamTimeout(
        f"The request for the model '{candidate.public_model}' did not finish within its deadline of {total_s:g} s."
    )
