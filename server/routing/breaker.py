"""A circuit breaker per route target: stop calling a (region, model id) that keeps failing, then probe it.

Closed: calls go through; the breaker opens after BREAKER_FAILURES failures in a row
(calls sent one after another that all failed),
or when of the calls sent in the last BREAKER_WINDOW_SECONDS (at least
BREAKER_MIN_REQUESTS) a share of BREAKER_FAILURE_RATE or more failed. Open: calls skip the target (the router
tries the next one) for BREAKER_COOLDOWN_SECONDS. Half-open: one call, the probe, goes
through; its success closes the breaker, its failure opens it again. Only failures a
retry could fix count (throttling, 5xx, timeouts, connection errors): a caller's bad
request says nothing about the target.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]
# Failed tickets kept to find runs; a run longer than BREAKER_FAILURES opens the breaker long before.
_MAX_FAILED_TICKETS = 10_000


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and how long it stays open (the BREAKER_* settings)."""

    failures: int = 5
    failure_rate: float = 0.5
    window_s: float = 30.0
    min_requests: int = 20
    cooldown_s: float = 30.0


class CircuitBreaker:
    """The state of one target; `on_transition(old, new)` is told of every change (metrics).

    "In a row" is in the order calls were sent, not the order they ended: `allow` hands
    out a ticket per call, and the breaker opens when BREAKER_FAILURES calls with
    consecutive tickets all failed. Under concurrency a throttle comes back at once while
    a success takes a whole time-to-first-token, so counting in the order calls end would
    see a "run" of failures whenever a few quick refusals overtake slow answers; counting by
    ticket sees one only when every call sent in a row failed.
    """

    def __init__(
        self,
        policy: BreakerPolicy,
        on_transition: Callable[[BreakerState, BreakerState], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = policy
        self._on_transition = on_transition
        self._clock = clock
        self._state: BreakerState = "closed"
        self._opened_at = 0.0
        self._next_ticket = 1
        self._failed: set[int] = set()
        self._run = 0
        self._probe: int | None = None
        self._sent: deque[tuple[float, int]] = deque()
        self._window_failed: set[int] = set()

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose cool-down has passed is half-open)."""
        if self._state == "open" and self._clock() - self._opened_at >= self._policy.cooldown_s:
            self._move("half_open")
        return self._state

    def peek(self) -> BreakerState:
        """The state now, without moving it (for readers on other threads, like a /metrics scrape)."""
        if self._state == "open" and self._clock() - self._opened_at >= self._policy.cooldown_s:
            return "half_open"
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """The length of the latest run of failed calls sent in a row (0 after a success closes it)."""
        return self._run

    def allow(self) -> int | None:
        """A ticket for a call that may go to the target now, or None; in half-open, only the probe gets one."""
        state = self.state
        if state == "open" or (state == "half_open" and self._probe is not None):
            return None
        ticket = self._next_ticket
        self._next_ticket += 1
        if state == "half_open":
            self._probe = ticket
        else:
            self._note_sent(ticket)
        return ticket

    def success(self, ticket: int) -> None:
        """The call with this ticket answered: a probe closes the breaker."""
        self._run = 0
        if ticket == self._probe:
            self._probe = None
            self._reset()
            self._move("closed")

    def failure(self, ticket: int) -> None:
        """The call with this ticket failed in a way the target is to blame for; may open the breaker."""
        if self._state == "half_open" and ticket == self._probe:
            self._probe = None
            self._trip()
            return
        if self._state != "closed":
            return
        if self._sent and ticket >= self._sent[0][1]:
            self._window_failed.add(ticket)
        self._failed.add(ticket)
        low, high = ticket, ticket
        while low - 1 in self._failed:
            low -= 1
        while high + 1 in self._failed:
            high += 1
        self._run = max(self._run, high - low + 1)
        self._forget_old_tickets()
        if high - low + 1 >= self._policy.failures or self._rate_tripped():
            self._trip()

    def release(self, ticket: int) -> None:
        """The call with this ticket ended with no verdict on the target (the caller's error, a cancellation)."""
        if ticket == self._probe:
            self._probe = None

    def _rate_tripped(self) -> bool:
        """Failures among the calls sent in the window, calls still running counted as not failed.

        Counting by the calls sent (not the outcomes heard) keeps quick refusals from
        looking like the whole story while the answers of the same moment are still coming.
        """
        self._forget_old_sends(self._clock())
        sent = len(self._sent)
        return sent >= self._policy.min_requests and len(self._window_failed) >= self._policy.failure_rate * sent

    def _trip(self) -> None:
        self._opened_at = self._clock()
        self._reset()
        self._move("open")

    def _reset(self) -> None:
        self._failed.clear()
        self._sent.clear()
        self._window_failed.clear()

    def _forget_old_tickets(self) -> None:
        """Tickets far behind the newest can no longer join a run that matters; keep the set small."""
        if len(self._failed) > _MAX_FAILED_TICKETS:
            horizon = self._next_ticket - _MAX_FAILED_TICKETS // 2
            self._failed = {ticket for ticket in self._failed if ticket >= horizon}

    def _note_sent(self, ticket: int) -> None:
        now = self._clock()
        self._sent.append((now, ticket))
        self._forget_old_sends(now)

    def _forget_old_sends(self, now: float) -> None:
        horizon = now - self._policy.window_s
        while self._sent and self._sent[0][0] < horizon:
            _, ticket = self._sent.popleft()
            self._window_failed.discard(ticket)

    def _move(self, state: BreakerState) -> None:
        old, self._state = self._state, state
        if old != state and self._on_transition is not None:
            self._on_transition(old, state)
