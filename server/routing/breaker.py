"""A circuit breaker per route target: stop calling a (region, model id) that keeps failing, then probe it.

Closed: calls go through; the breaker opens after BREAKER_FAILURES failures in a row,
or when at least BREAKER_MIN_REQUESTS calls in the last BREAKER_WINDOW_SECONDS failed
at a rate of BREAKER_FAILURE_RATE or more. Open: calls skip the target (the router
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


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and how long it stays open (the BREAKER_* settings)."""

    failures: int = 5
    failure_rate: float = 0.5
    window_s: float = 30.0
    min_requests: int = 20
    cooldown_s: float = 30.0


class CircuitBreaker:
    """The state of one target; `on_transition(old, new)` is told of every change (metrics)."""

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
        self._consecutive = 0
        self._probing = False
        self._window: deque[tuple[float, bool]] = deque()
        self._window_failures = 0

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose cool-down has passed is half-open)."""
        if self._state == "open" and self._clock() - self._opened_at >= self._policy.cooldown_s:
            self._move("half_open")
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        return self._consecutive

    def allow(self) -> bool:
        """Whether a call may go to the target now; in half-open, only the one probe may."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._probing:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        """The call answered: a probe closes the breaker; the failure run ends."""
        self._probing = False
        self._consecutive = 0
        if self._state == "closed":
            self._note(failed=False)
            return
        self._clear_window()
        self._move("closed")

    def failure(self) -> None:
        """The call failed in a way the target is to blame for; may open the breaker."""
        self._probing = False
        self._consecutive += 1
        if self._state == "closed":
            self._note(failed=True)
            if not self._tripped():
                return
        self._opened_at = self._clock()
        self._clear_window()
        self._move("open")

    def release(self) -> None:
        """The call ended with no verdict on the target (the caller's error, a cancellation)."""
        self._probing = False

    def _tripped(self) -> bool:
        policy = self._policy
        if self._consecutive >= policy.failures:
            return True
        count = len(self._window)
        return count >= policy.min_requests and self._window_failures >= policy.failure_rate * count

    def _note(self, *, failed: bool) -> None:
        now = self._clock()
        self._window.append((now, failed))
        self._window_failures += failed
        horizon = now - self._policy.window_s
        while self._window and self._window[0][0] < horizon:
            _, old_failed = self._window.popleft()
            self._window_failures -= old_failed

    def _clear_window(self) -> None:
        self._window.clear()
        self._window_failures = 0

    def _move(self, state: BreakerState) -> None:
        old, self._state = self._state, state
        if old != state and self._on_transition is not None:
            self._on_transition(old, state)
