"""Bedrock Runtime's native Anthropic Messages route, `POST /anthropic/v1/messages`, over signed HTTP.

boto3 has no operation for this route (reference section 10.5), so the request is built and
SigV4-signed (signing name `bedrock`) with botocore's own signer and the gateway's credentials,
and sent through botocore's urllib3 session: the same TLS, proxy and timeout handling as boto3.
Calls block; `client.BedrockClient` runs them on its worker threads.

A streamed answer is `text/event-stream`; `SseEvents` reads it incrementally and yields each
event's `data` in the shape InvokeModelWithResponseStream's events have (`{"chunk": {"bytes":
...}}`), so the services read both streams alike. An `error` event raises `NativeError`.
Failures carry the HTTP status and Bedrock's message; `errors.map_bedrock_error` maps them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.httpsession import URLLib3Session

from llmgw.server.providers.bedrock.anthropic import NATIVE_ANTHROPIC_VERSION

PATH = "/anthropic/v1/messages"
_READ_SIZE = 16 * 1024


class NativeError(Exception):
    """The native route refused or failed: its HTTP status (0 inside a stream) and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _message_of(body: bytes) -> str:
    """Bedrock's error text from an Anthropic-style or AWS-style error body."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    message = data.get("message") or data.get("Message")
    return message if isinstance(message, str) else ""


class SseEvents:
    """The `data` of each server-sent event of a response, read as it arrives; closable from another thread."""

    def __init__(self, response: AWSResponse) -> None:
        # Named as botocore's EventStream names it, so client._close_event_stream can shut it down.
        self._raw_stream = response.raw

    def __iter__(self) -> Iterator[dict[str, Any]]:
        buffer = b""
        name = ""
        data: list[bytes] = []
        for piece in self._raw_stream.stream(_READ_SIZE, decode_content=True):
            buffer += piece
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                line = line.rstrip(b"\r")
                if line.startswith(b"event:"):
                    name = line[6:].strip().decode()
                elif line.startswith(b"data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    payload = b"\n".join(data)
                    if name == "error":
                        raise NativeError(0, _message_of(payload) or "the model stopped while streaming")
                    yield {"chunk": {"bytes": payload}}
                    name, data = "", []

    def close(self) -> None:
        """Release the connection."""
        with contextlib.suppress(Exception):
            self._raw_stream.close()


class NativeMessagesClient:
    """Signed calls to `/anthropic/v1/messages` on one bedrock-runtime endpoint."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        credentials: Callable[[], Credentials | None],
        *,
        connect_timeout_s: float,
        read_timeout_s: float,
        max_pool_connections: int,
    ) -> None:
        self._url = endpoint_url.rstrip("/") + PATH
        self._region = region
        self._credentials = credentials
        self._http = URLLib3Session(
            # botocore's own endpoints pass (connect, read) here; the stubs say int only.
            timeout=(connect_timeout_s, read_timeout_s),  # type: ignore[arg-type]
            max_pool_connections=max_pool_connections,
        )

    def _send(self, body: bytes, betas: Sequence[str], stream: bool) -> AWSResponse:
        credentials = self._credentials()
        if credentials is None:
            raise NativeError(403, "the gateway has no AWS credentials to sign the request with")
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "anthropic-version": NATIVE_ANTHROPIC_VERSION,
        }
        if betas:
            headers["anthropic-beta"] = ",".join(betas)
        request = AWSRequest(method="POST", url=self._url, data=body, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "bedrock", self._region).add_auth(request)
        prepared = request.prepare()
        prepared.stream_output = stream
        response = self._http.send(prepared)
        if response.status_code != 200:
            raise NativeError(response.status_code, _message_of(response.content))
        return response

    def create(self, body: bytes, betas: Sequence[str]) -> bytes:
        """One unary call; the answer's bytes."""
        content = self._send(body, betas, stream=False).content
        if b"UnknownOperationException" in content[:200]:  # Bedrock answers unknown routes so, even with 200
            raise NativeError(404, "Bedrock does not serve the Messages API at this endpoint")
        return bytes(content)

    def stream(self, body: bytes, betas: Sequence[str]) -> SseEvents:
        """One streamed call; its events, to be read (and closed) on one thread."""
        return SseEvents(self._send(body, betas, stream=True))

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()
