"""Fault injection: which failures the fake can play and the error each one returns."""

from dataclasses import dataclass

from llmgw.fakebedrock.errors import BedrockError

# How long the `hang` fault holds a request before giving up with a ModelTimeoutException.
HANG_LIMIT_S = 60.0

# Fault name -> (HTTP status, Bedrock error code, message) for faults answered with an HTTP error.
_HTTP_ERRORS: dict[str, tuple[int, str, str]] = {
    "throttle": (429, "ThrottlingException", "Too many requests, please wait before trying your request again."),
    "access_denied": (403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
    "validation": (400, "ValidationException", "The fake was asked to reject this request as invalid."),
    "internal": (500, "InternalServerException", "An internal server error occurred. Retry your request."),
    "unavailable": (503, "ServiceUnavailableException", "The service isn't currently available. Try again later."),
    "timeout": (408, "ModelTimeoutException", "The request took too long to process."),
    "mid_stream": (424, "ModelErrorException", "The model failed while generating the response."),
}

# `stall` streams this many text deltas, then goes silent until the client leaves (an idle stream).
STALL_AFTER_DELTAS = 2

FAULT_NAMES = frozenset({*_HTTP_ERRORS, "hang", "stall"})


@dataclass(frozen=True)
class Fault:
    """A failure to play instead of answering.

    `repeat` limits `throttle` to the first N identical calls; `percent` plays the
    fault on that share of the calls it applies to (spread evenly, so a load test
    with `throttle:20%` sees exactly one call in five throttled).
    """

    name: str
    repeat: int | None = None
    percent: int | None = None


def parse_fault(text: str) -> Fault:
    """Read a fault spelled as in markers and settings: `throttle`, `throttle:3`, `internal:20%`, `hang`, ...

    Raises ValueError for unknown names or a bad count or share, so typos fail loudly.
    """
    name, _, count = text.partition(":")
    if name not in FAULT_NAMES:
        raise ValueError(f"unknown fault {text!r}; known faults: {', '.join(sorted(FAULT_NAMES))}")
    if not count:
        return Fault(name)
    if count.endswith("%"):
        share = count[:-1]
        if not share.isdigit() or not 1 <= int(share) <= 100:
            raise ValueError(f"bad fault {text!r}: a share is NAME:P% with P from 1 to 100")
        return Fault(name, percent=int(share))
    if name != "throttle" or not count.isdigit() or int(count) < 1:
        raise ValueError(f"bad fault {text!r}: only throttle takes a count, as throttle:N with N >= 1")
    return Fault(name, int(count))


class ShareGate:
    """Decides which calls a `NAME:P%` fault hits: P of every 100, evenly spread, in arrival order."""

    def __init__(self) -> None:
        self._calls = 0

    def hits(self, percent: int) -> bool:
        """True when this call is one of the P% the fault plays on."""
        self._calls += 1
        return self._calls * percent // 100 > (self._calls - 1) * percent // 100


def fault_error(fault: Fault, model_id: str) -> BedrockError:
    """The HTTP error a fault answers with (for `mid_stream` on a unary call, and `hang` once it times out)."""
    if fault.name in ("hang", "stall"):
        return BedrockError(408, "ModelTimeoutException", "The model did not answer in time.")
    status, code, message = _HTTP_ERRORS[fault.name]
    extra: dict[str, object] = {}
    if code == "ModelErrorException":
        extra = {"originalStatusCode": 500, "resourceName": model_id}
    return BedrockError(status, code, message, extra)


class ThrottleLedger:
    """Counts calls per request body so `throttle:N` throttles exactly the first N identical calls.

    Holds at most `capacity` bodies, forgetting the oldest, so a load test with a
    server-wide `throttle:N` and unique prompts cannot grow it without bound.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._calls: dict[bytes, int] = {}
        self._capacity = capacity

    def should_throttle(self, key: bytes, limit: int) -> bool:
        """True while fewer than `limit` calls with this key have been throttled."""
        seen = self._calls.get(key, 0)
        if seen >= limit:
            return False
        if not seen and len(self._calls) >= self._capacity:
            del self._calls[next(iter(self._calls))]
        self._calls[key] = seen + 1
        return True
