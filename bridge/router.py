"""Request path -> endpoint and path-variable values, or the 404/405 the client deserves.

The path is split on `/` while still percent-encoded, so `%2F` stays inside one segment. A
trailing `:x` is split off as a verb only when some route declares `x`; otherwise it is part
of the segment (`/v1/models/anthropic.claude-3-haiku-20240307-v1:0`). Dot segments (`.`, `..`,
also percent-encoded) never name a resource and get 404, so nothing resembling traversal reaches
a handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from llmgw.bridge.errors import ClientError
from llmgw.bridge.routes import Endpoint, RouteTable

_DOT_SEGMENTS = frozenset({".", ".."})


@dataclass(frozen=True, slots=True)
class Match:
    """The endpoint a request goes to and the decoded values of its path variables."""

    endpoint: Endpoint
    values: dict[str, str]


class Router:
    """Matches requests against a route table, most specific template first."""

    def __init__(self, table: RouteTable) -> None:
        self.table = table

    def _candidates(self, path: str) -> list[tuple[list[str], str | None]]:
        parts = path[1:].split("/")
        candidates: list[tuple[list[str], str | None]] = []
        last = parts[-1]
        if ":" in last:
            head, verb = last.rsplit(":", 1)
            if verb in self.table.verbs:
                candidates.append(([*parts[:-1], head], verb))
        candidates.append((parts, None))
        return candidates

    def match(self, http_method: str, path: str) -> Match:
        """The match for a raw (percent-encoded) path; raises ClientError 404 or 405."""
        if not path.startswith("/") or any(unquote(part) in _DOT_SEGMENTS for part in path.split("/")):
            raise self._not_found(http_method, path)
        allowed: list[str] = []
        for parts, verb in self._candidates(path):
            for endpoint in self.table.endpoints:
                if endpoint.template.verb != verb:
                    continue
                values = endpoint.template.match(parts)
                if values is None:
                    continue
                if endpoint.http_method == http_method:
                    return Match(endpoint, values)
                allowed.append(endpoint.http_method)
        if allowed:
            raise ClientError(
                f"Method {http_method} is not allowed for {path[:200]}",
                http_status=405,
                code="method_not_allowed",
                allow=sorted(set(allowed)),
            )
        raise self._not_found(http_method, path)

    @staticmethod
    def _not_found(http_method: str, path: str) -> ClientError:
        return ClientError(f"Invalid URL ({http_method} {path[:200]})", http_status=404, code="unknown_url")
