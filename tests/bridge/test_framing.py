"""The wire shapes per family of routes: OpenAI, Anthropic and Bedrock (framing.py and its two siblings)."""

from __future__ import annotations

import json
from typing import cast

import pytest
from botocore.eventstream import EventStreamBuffer

from llmgw.bridge.anthropic_shapes import ANTHROPIC, json_text, json_value, text_blocks
from llmgw.bridge.bedrock_shapes import BEDROCK
from llmgw.bridge.errors import ClientError, OpenAIError
from llmgw.bridge.openai_shapes import OPENAI_FRAMING as OPENAI


def error(status: int, code: str | None = None, retry_after: int | None = None) -> OpenAIError:
    """An error as the bridge maps it from a gRPC status."""
    return OpenAIError(status, "what went wrong", "whatever", None, code, retry_after)


@pytest.mark.parametrize(
    ("status", "anthropic_type", "bedrock_code"),
    [
        (400, "invalid_request_error", "ValidationException"),
        (401, "authentication_error", "UnrecognizedClientException"),
        (403, "permission_error", "AccessDeniedException"),
        (404, "not_found_error", "ResourceNotFoundException"),
        (413, "request_too_large", "ValidationException"),
        (429, "rate_limit_error", "ThrottlingException"),
        (500, "api_error", "InternalServerException"),
        (503, "overloaded_error", "ServiceUnavailableException"),
        (504, "api_error", "ModelTimeoutException"),
    ],
)
def test_each_status_has_its_anthropic_type_and_bedrock_code(
    status: int, anthropic_type: str, bedrock_code: str
) -> None:
    """Anthropic's error JSON by status, and Bedrock's `{"message"}` with `x-amzn-errortype`."""
    body, headers = ANTHROPIC.error(error(status))
    assert json.loads(body) == {"type": "error", "error": {"type": anthropic_type, "message": "what went wrong"}}
    assert headers == []
    body, headers = BEDROCK.error(error(status))
    assert json.loads(body) == {"message": "what went wrong"}
    assert headers == [(b"x-amzn-errortype", bedrock_code.encode())]


def test_final_refusals_tell_the_sdks_not_to_retry() -> None:
    """Quota used up and model not allowed carry x-should-retry: false; a throttle keeps Retry-After."""
    _, headers = ANTHROPIC.error(error(429, "quota_exceeded"))
    assert (b"x-should-retry", b"false") in headers
    _, headers = BEDROCK.error(error(429, "quota_exceeded"))
    assert (b"x-amzn-errortype", b"ServiceQuotaExceededException") in headers
    assert (b"x-should-retry", b"false") in headers
    _, headers = ANTHROPIC.error(error(429, "rate_limit_exceeded", retry_after=7))
    assert headers == [(b"retry-after", b"7")]


def test_anthropic_events_are_named_and_message_start_is_complete() -> None:
    """`event: <type>` then `data:`; message_start gets the empty content and null stop fields the SDKs need."""
    frame = ANTHROPIC.stream_item({"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 1}}})
    assert frame is not None
    name, data = frame.decode().split("\n")[:2]
    assert name == "event: message_start"
    message = json.loads(data.removeprefix("data: "))["message"]
    assert (message["content"], message["stop_reason"], message["stop_sequence"]) == ([], None, None)
    assert frame.endswith(b"\n\n")
    assert ANTHROPIC.stream_end() == b""
    assert ANTHROPIC.stream_error(error(503)).startswith(b"event: error\ndata: {")


def test_openai_framing_is_unchanged() -> None:
    """data: events and [DONE], as the OpenAI SDKs read them."""
    assert OPENAI.stream_item({"a": 1}) == b'data: {"a":1}\n\n'
    assert OPENAI.stream_end() == b"data: [DONE]\n\n"


def test_bedrock_streams_pass_bytes_and_end_in_an_exception_frame() -> None:
    """Raw frames go out as they are; a late error is an event-stream exception botocore decodes (CRCs valid)."""
    assert BEDROCK.stream_item(b"\x00\x01") == b"\x00\x01"
    assert BEDROCK.stream_headers("application/vnd.amazon.eventstream") == [
        (b"content-type", b"application/vnd.amazon.eventstream")
    ]
    buffer = EventStreamBuffer()
    buffer.add_data(BEDROCK.stream_error(error(503)))
    (message,) = list(buffer)
    headers = cast(dict[str, object], message.headers)  # botocore-stubs type it as int
    assert headers[":message-type"] == "exception"
    assert headers[":exception-type"] == "serviceUnavailableException"
    assert json.loads(message.payload) == {"message": "what went wrong"}


def test_anthropic_input_hooks() -> None:
    """A string is one text block; JSON objects become their text (key order kept) and come back as JSON."""
    assert text_blocks("hi", "content") == [{"type": "text", "text": "hi"}]
    assert text_blocks([{"type": "text", "text": "x"}], "content") == [{"type": "text", "text": "x"}]
    text = json_text({"z": 1, "a": [1.5]}, "input")
    assert text == '{"z":1,"a":[1.5]}'
    assert list(json_value(text)) == ["z", "a"]  # type: ignore[call-overload]
    with pytest.raises(ClientError, match="expected an object"):
        json_text([1], "messages[0].content[0].input")
