"""The circuit breaker's state machine, on a clock the test moves (no sleeping)."""

from __future__ import annotations

from dataclasses import dataclass

from llmgw.server.routing.backoff import full_jitter
from llmgw.server.routing.breaker import BreakerPolicy, BreakerState, CircuitBreaker


@dataclass
class Clock:
    """Monotonic seconds the test advances."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def _state(breaker: CircuitBreaker) -> BreakerState:
    """The state now (a call, so the type checker does not pin it between steps)."""
    return breaker.state


def _breaker(clock: Clock, **policy: float) -> tuple[CircuitBreaker, list[tuple[BreakerState, BreakerState]]]:
    moves: list[tuple[BreakerState, BreakerState]] = []
    options = {"failures": 3, "failure_rate": 0.5, "window_s": 10, "min_requests": 4, "cooldown_s": 5, **policy}
    breaker = CircuitBreaker(
        BreakerPolicy(**options),  # type: ignore[arg-type]
        lambda old, new: moves.append((old, new)),
        clock,
    )
    return breaker, moves


def _ticket(breaker: CircuitBreaker) -> int:
    ticket = breaker.allow()
    assert ticket is not None
    return ticket


def test_opens_after_consecutive_failures_and_half_opens_after_the_cool_down() -> None:
    """N failures in a row open it; calls are refused until the cool-down, then exactly one probe passes."""
    clock = Clock()
    breaker, moves = _breaker(clock, min_requests=100)
    for _ in range(3):
        breaker.failure(_ticket(breaker))
    assert _state(breaker) == "open"
    assert breaker.allow() is None
    clock.now += 4.9
    assert breaker.allow() is None
    clock.now += 0.1
    probe = _ticket(breaker)
    assert breaker.allow() is None
    breaker.success(probe)
    assert _state(breaker) == "closed"
    assert moves == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_in_a_row_means_in_the_order_calls_were_sent() -> None:
    """Quick refusals that overtake slow answers are not a run: only failures of calls sent one after another are."""
    clock = Clock()
    breaker, _ = _breaker(clock, min_requests=100)
    tickets = [_ticket(breaker) for _ in range(12)]
    for ticket in tickets[::2]:  # every other call fails at once; the rest are still answering
        breaker.failure(ticket)
    assert _state(breaker) == "closed"
    assert breaker.consecutive_failures == 1
    later = [_ticket(breaker) for _ in range(3)]
    breaker.failure(later[1])
    breaker.failure(later[0])
    assert _state(breaker) == "closed"
    breaker.failure(later[2])
    assert _state(breaker) == "open"


def test_a_failed_probe_opens_it_again_for_a_full_cool_down() -> None:
    """The probe's failure reopens the breaker; the cool-down starts over."""
    clock = Clock()
    breaker, moves = _breaker(clock, failures=1)
    breaker.failure(_ticket(breaker))
    clock.now += 5
    breaker.failure(_ticket(breaker))
    assert _state(breaker) == "open"
    clock.now += 4
    assert breaker.allow() is None
    assert moves == [("closed", "open"), ("open", "half_open"), ("half_open", "open")]


def test_a_probe_without_a_verdict_lets_the_next_call_probe() -> None:
    """A probe that ends with no verdict (the caller's error, a cancellation) frees the probe slot."""
    clock = Clock()
    breaker, _ = _breaker(clock, failures=1)
    breaker.failure(_ticket(breaker))
    clock.now += 5
    breaker.release(_ticket(breaker))
    assert _state(breaker) == "half_open"
    assert breaker.allow() is not None


def test_calls_sent_before_it_opened_do_not_decide_the_probe() -> None:
    """A late answer from before the breaker opened neither closes it nor takes the probe's place."""
    clock = Clock()
    breaker, _ = _breaker(clock, failures=1)
    early = _ticket(breaker)
    breaker.failure(_ticket(breaker))
    clock.now += 5
    probe = _ticket(breaker)
    breaker.success(early)
    assert _state(breaker) == "half_open"
    breaker.success(probe)
    assert _state(breaker) == "closed"


def test_opens_on_the_failure_rate_over_the_window() -> None:
    """Alternating failures never make three in a row, but half of four calls in the window opens it."""
    clock = Clock()
    breaker, _ = _breaker(clock)
    breaker.success(_ticket(breaker))
    breaker.failure(_ticket(breaker))
    breaker.success(_ticket(breaker))
    assert _state(breaker) == "closed"
    breaker.failure(_ticket(breaker))
    assert _state(breaker) == "open"


def test_old_calls_leave_the_window() -> None:
    """Failures older than the window no longer count toward the rate."""
    clock = Clock()
    breaker, _ = _breaker(clock)
    breaker.failure(_ticket(breaker))
    breaker.success(_ticket(breaker))
    breaker.failure(_ticket(breaker))
    clock.now += 11
    for _ in range(3):
        breaker.success(_ticket(breaker))
    breaker.failure(_ticket(breaker))
    assert _state(breaker) == "closed"


def test_full_jitter_stays_within_the_capped_exponential() -> None:
    """Each wait is between 0 and min(cap, base * 2**retry)."""
    for retry, bound in [(0, 0.1), (1, 0.2), (3, 0.8), (10, 2.0), (1000, 2.0)]:
        waits = [full_jitter(retry, 0.1, 2.0) for _ in range(200)]
        assert all(0 <= wait <= bound for wait in waits)
        assert max(waits) > bound / 2


def test_peek_reports_half_open_without_moving_the_breaker() -> None:
    """A /metrics scrape (another thread) reads half-open after the cool-down but changes nothing."""
    clock = Clock()
    breaker, moves = _breaker(clock, failures=1)
    breaker.failure(_ticket(breaker))
    clock.now += 5
    assert breaker.peek() == "half_open"
    assert moves == [("closed", "open")]
    assert _state(breaker) == "half_open"
    assert moves == [("closed", "open"), ("open", "half_open")]


def test_a_burst_with_a_fifth_refused_at_once_stays_closed() -> None:
    """200 calls sent together, every fifth refused before any answer: neither a run nor the rate opens it."""
    clock = Clock()
    breaker, _ = _breaker(clock, failures=5, min_requests=20, failure_rate=0.5)
    tickets = [_ticket(breaker) for _ in range(200)]
    for ticket in tickets[::5]:
        breaker.failure(ticket)
    assert _state(breaker) == "closed"
    for ticket in tickets:
        if (ticket - tickets[0]) % 5:
            breaker.success(ticket)
    assert _state(breaker) == "closed"


def test_an_outage_opens_it_on_the_rate_even_with_answers_in_flight() -> None:
    """Of 40 calls sent in the window, 20 failing reaches a rate of 0.5 while the others still run."""
    clock = Clock()
    breaker, _ = _breaker(clock, failures=100, min_requests=20, failure_rate=0.5)
    tickets = [_ticket(breaker) for _ in range(40)]
    for ticket in tickets[::2][:19]:
        breaker.failure(ticket)
    assert _state(breaker) == "closed"
    breaker.failure(tickets[38])
    assert _state(breaker) == "open"
