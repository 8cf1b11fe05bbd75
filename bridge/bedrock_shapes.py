"""Bedrock Runtime's shapes on `/bedrock/...`, for clients built for Bedrock (Claude Code, AnthropicBedrock).

Errors are Bedrock's: a `{"message": ...}` body and the error code in `x-amzn-errortype`,
chosen by HTTP status; refusals no retry can fix carry `x-should-retry: false`, which the
Anthropic SDKs honour. The responses are `google.api.HttpBody`: their bytes go out as they are
(the server has framed the stream's AWS event-stream messages already), and an error after the
stream has started is one event-stream exception message, which botocore and the Anthropic
SDK raise.
"""

from __future__ import annotations

from llmgw.bridge.anthropic_shapes import FINAL_CODES
from llmgw.bridge.codec import dumps
from llmgw.bridge.errors import OpenAIError
from llmgw.bridge.framing import Headers, retry_headers
from llmgw.bridge.routes import PLAIN_JSON, HttpApi
from llmgw.eventstream import encode_exception

#: Bedrock's error code for each HTTP status the gateway sends.
ERROR_CODES: dict[int, str] = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    405: "ValidationException",
    413: "ValidationException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
    504: "ModelTimeoutException",
}
EVENT_STREAM = "application/vnd.amazon.eventstream"


def _code(error: OpenAIError) -> str:
    if error.code == "quota_exceeded":
        return "ServiceQuotaExceededException"
    return ERROR_CODES.get(error.http_status, "InternalServerException")


def _body(error: OpenAIError) -> bytes:
    try:
        return dumps({"message": error.message})
    except (TypeError, ValueError):
        return b'{"message":"internal error"}'


class BedrockFraming:
    """Bedrock's error JSON, raw response bytes and event-stream exception frames."""

    def error(self, error: OpenAIError) -> tuple[bytes, Headers]:
        """`{"message"}` with `x-amzn-errortype`."""
        headers = [(b"x-amzn-errortype", _code(error).encode()), *retry_headers(error)]
        if error.code in FINAL_CODES:
            headers.append((b"x-should-retry", b"false"))
        return _body(error), headers

    def stream_headers(self, content_type: str | None) -> Headers:
        """The stream's own content type (AWS event-stream)."""
        return [(b"content-type", (content_type or EVENT_STREAM).encode())]

    def stream_item(self, payload: dict[str, object] | bytes) -> bytes | None:
        """The message's bytes, already framed by the server."""
        return payload if isinstance(payload, bytes) else None

    def stream_error(self, error: OpenAIError) -> bytes:
        """An event-stream exception message."""
        return encode_exception(_code(error)[:1].lower() + _code(error)[1:], _body(error))

    def stream_end(self) -> bytes:
        """Nothing: the last chunk was the end."""
        return b""


BEDROCK = BedrockFraming()
BEDROCK_API = HttpApi(PLAIN_JSON, BEDROCK)
"""Bedrock Runtime's own paths, as BedrockService serves them over HTTP (bodies are raw bytes)."""
