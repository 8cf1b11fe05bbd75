"""The fake's prompt cache: cache reads and writes that depend on a prefix seen before.

Bedrock caches the prompt prefix that ends at each `cachePoint`, per model, for the
point's TTL (5 minutes or 1 hour); a later request that repeats a cached prefix reads
it, and the rest up to its last cache point is written. The fake keeps the same
bookkeeping in memory: each cache point's prefix digest with an expiry time. Reading a
prefix refreshes its TTL, as on Bedrock. Unlike Bedrock, the fake caches prefixes of
any length (Bedrock skips prefixes below a per-model minimum of 1,024 to 4,096 tokens),
so tests stay small.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


@dataclass(frozen=True)
class CachePoint:
    """One `cachePoint` of a request: the digest and token count of the prefix it ends, and its TTL."""

    digest: bytes
    prefix_tokens: int
    ttl: str


@dataclass(frozen=True)
class CacheUsage:
    """What one request read from and wrote to the cache, in tokens; writes split by TTL."""

    read_tokens: int = 0
    write_5m_tokens: int = 0
    write_1h_tokens: int = 0

    @property
    def write_tokens(self) -> int:
        """All cache writes, as Bedrock's `cacheWriteInputTokens` reports them."""
        return self.write_5m_tokens + self.write_1h_tokens

    def details(self) -> list[dict[str, object]]:
        """Bedrock's `cacheDetails`: the writes by TTL, 1h before 5m, only TTLs with writes."""
        pairs = (("1h", self.write_1h_tokens), ("5m", self.write_5m_tokens))
        return [{"ttl": ttl, "inputTokens": tokens} for ttl, tokens in pairs if tokens]


class PromptCache:
    """Cached prefixes of every model, keyed by (model id, prefix digest), with their expiry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: dict[tuple[str, bytes], float] = {}

    def account(self, model_id: str, points: tuple[CachePoint, ...]) -> CacheUsage:
        """Read the longest cached prefix among `points`, write the rest, and return the counts."""
        if not points:
            return CacheUsage()
        now = self._clock()
        hit = -1
        for index, point in enumerate(points):
            if self._expiry.get((model_id, point.digest), 0.0) > now:
                hit = index
        read = points[hit].prefix_tokens if hit >= 0 else 0
        written = {"5m": 0, "1h": 0}
        covered = read
        for point in points[hit + 1 :]:
            written[point.ttl] += max(point.prefix_tokens - covered, 0)
            covered = max(covered, point.prefix_tokens)
        for point in points:
            key = (model_id, point.digest)
            self._expiry[key] = max(self._expiry.get(key, 0.0), now + TTL_SECONDS[point.ttl])
        return CacheUsage(read, written["5m"], written["1h"])
