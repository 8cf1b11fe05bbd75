"""Connection limits for the HTTP port: slow, idle, oversized and too many connections are closed.

uvicorn's httptools protocol has a keep-alive timeout and nothing else: an idle, partial-header or
partial-body connection stays open forever, and a header is buffered whatever its size. This
subclass adds, per connection, on the event loop (no thread, no extra task):

- a header-read timeout: from the connection's (or the next request's) first byte, the request
  line and headers must arrive within `header_timeout_s`, else 408 and close; a new connection
  that sends nothing is closed after the same time;
- a body-read timeout: the whole body must arrive within `body_timeout_s` of the headers, else
  408 (when no response has started) and close;
- a maximum header size: more than `max_header_bytes` of request line and headers gets 431 and
  close, counted as the bytes arrive, so an unterminated header never grows past the limit
  (plus one socket read);
- a maximum of `max_connections` open connections: one more is answered 503 and closed at once.

The keep-alive idle timeout is uvicorn's own `timeout_keep_alive`, set from the same `HttpLimits`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The HTTP port's connection limits; each is a setting (README: Settings)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    keepalive_s: float = 5.0
    max_header_bytes: int = 32 * 1024
    max_connections: int = 1000


def _response(status: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


_TIMEOUT = _response(b"408 Request Timeout")
_HEADER_TOO_LARGE = _response(b"431 Request Header Fields Too Large")
_BUSY = _response(b"503 Service Unavailable")


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the module's limits; `limits` is set by `protocol_class`."""

    limits = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - uvicorn's own signature, passed through
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._reading_headers = True
        self._header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Refuse the connection when too many are open; else start the header clock."""
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            logger.warning("HTTP connection refused: %d connections are open", len(self.connections) - 1)
            transport.write(_BUSY)
            transport.close()
            return
        self._arm(self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the timer with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Count header bytes as they arrive and refuse a header larger than the limit."""
        if self._reading_headers:
            if self._timer is None:
                self._arm(self.limits.header_timeout_s)
            self._header_bytes += len(data)
        super().data_received(data)
        if self._reading_headers and self._header_bytes > self.limits.max_header_bytes:
            self._refuse(_HEADER_TOO_LARGE)

    def on_message_begin(self) -> None:
        """A new request starts: its headers are being read."""
        super().on_message_begin()
        self._reading_headers = True

    def on_headers_complete(self) -> None:
        """Check the headers' real size, then give the body its own clock."""
        self._reading_headers = False
        self._header_bytes = 0
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            self._refuse(_HEADER_TOO_LARGE)
            return
        self._disarm()
        super().on_headers_complete()
        self._arm(self.limits.body_timeout_s)

    def on_message_complete(self) -> None:
        """The body is in: no more clock until the next request begins."""
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """Between requests uvicorn's keep-alive timeout applies; the next header clock starts on a first byte."""
        self._disarm()
        self._reading_headers = True
        self._header_bytes = 0
        super().on_response_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        started = self.cycle is not None and self.cycle.response_started
        self._refuse(b"" if started else _TIMEOUT)

    def _refuse(self, response: bytes) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        if response:
            self.transport.write(response)
        self.transport.close()


def protocol_class(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """A protocol class for uvicorn's `http=` option carrying these limits."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
