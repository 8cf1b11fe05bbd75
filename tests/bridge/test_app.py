"""The bridge end to end: the official OpenAI SDK and raw HTTP against uvicorn in front of a real gRPC server."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest

from tests.bridge.conftest import GOOD_KEY, Upstream
from tests.model_ids import HAIKU


def sync_client(url: str, key: str = GOOD_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=10)


def async_client(url: str, key: str = GOOD_KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=10)


def raw(
    url: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        all_headers = {"Authorization": f"Bearer {GOOD_KEY}", "Content-Type": "application/json", **(headers or {})}
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        content_type = response.getheader("content-type", "")
        parsed = json.loads(data) if content_type.startswith("application/json") else data
        return response.status, {k.lower(): v for k, v in response.getheaders()}, parsed
    finally:
        connection.close()


def chat_body(**extra: Any) -> bytes:
    return json.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi"}], **extra}).encode()


def assert_still_serving(url: str) -> None:
    status, _, body = raw(url, "GET", "/v1/models")
    assert status == 200
    assert body["object"] == "list"


def test_chat_sync(bridge_url: str) -> None:
    """A unary chat completion round-trips with OpenAI's shape and the hooks applied."""
    with sync_client(bridge_url) as client:
        completion = client.chat.completions.create(
            model="echo",
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            ],
            stop="END",
            tool_choice={"type": "function", "function": {"name": "f"}},
            tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            temperature=0.5,
        )
    assert completion.id == "chatcmpl-1"
    assert completion.object == "chat.completion"
    assert completion.created == 1_700_000_000
    assert completion.choices[0].index == 0
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.role == "assistant"
    assert completion.usage is not None
    assert completion.usage.total_tokens == 5
    echoed = json.loads(completion.choices[0].message.content or "")
    assert echoed["messages"][0] == {
        "role": "ROLE_SYSTEM",
        "content": [{"type": "CONTENT_PART_TYPE_TEXT", "text": "be brief"}],
    }
    assert echoed["stop"] == ["END"]
    assert echoed["tool_choice"] == {"mode": "TOOL_CHOICE_MODE_FUNCTION", "function": {"name": "f"}}
    assert echoed["temperature"] == 0.5
    assert echoed["tools"][0]["function"]["parameters"] == {"type": "object"}


async def test_chat_async(bridge_url: str) -> None:
    """The async SDK gets the same unary answer."""
    async with async_client(bridge_url) as client:
        completion = await client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content is not None
    assert json.loads(completion.choices[0].message.content)["model"] == "echo"


def test_stream_sync(bridge_url: str) -> None:
    """`stream: true` selects the streaming RPC; deltas, finish_reason and the usage chunk arrive as SSE."""
    with sync_client(bridge_url) as client:
        stream = client.chat.completions.create(
            model="echo",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 5


async def test_stream_async(bridge_url: str) -> None:
    """The async SDK streams the same deltas."""
    async with async_client(bridge_url) as client:
        stream = await client.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello"


def test_stream_framing(bridge_url: str) -> None:
    """Raw SSE: text/event-stream, one `data:` event per chunk, `[DONE]` last."""
    status, headers, body = raw(bridge_url, "POST", "/v1/chat/completions", chat_body(stream=True))
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    events = body.decode().split("\n\n")
    assert events[-1] == ""
    assert events[-2] == "data: [DONE]"
    first = json.loads(events[0].removeprefix("data: "))
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["finish_reason"] is None
    assert "usage" not in first


def test_stream_error_before_first_chunk_is_http_status(bridge_url: str) -> None:
    """A stream refused before its first chunk gets the mapped HTTP status, not an event."""
    with sync_client(bridge_url) as client, pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="quota", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert caught.value.code == "quota_exceeded"


def test_stream_error_mid_stream_is_in_band(bridge_url: str) -> None:
    """An upstream error after the headers becomes one error event and no [DONE]; the SDK raises APIError."""
    status, _, body = raw(bridge_url, "POST", "/v1/chat/completions", chat_body(model="midfail", stream=True))
    assert status == 200
    events = [e for e in body.decode().split("\n\n") if e]
    assert "[DONE]" not in events[-1]
    error = json.loads(events[-1].removeprefix("data: "))["error"]
    assert error["type"] == "api_error"
    assert error["code"] == "upstream_throttled"
    with sync_client(bridge_url) as client, pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            model="midfail", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass


def test_disconnect_cancels_the_grpc_call(bridge_url: str, upstream: Upstream) -> None:
    """Closing the connection mid-stream cancels the servicer's call at once."""
    upstream.state.stream_cancelled.clear()
    parts = urlsplit(bridge_url)
    body = chat_body(model="slow", stream=True)
    with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=10) as sock:
        request = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {GOOD_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock.sendall(request + body)
        received = b""
        while b"data: " not in received:
            received += sock.recv(4096)
    assert upstream.state.stream_cancelled.wait(10)
    assert_still_serving(bridge_url)


def test_models(bridge_url: str) -> None:
    """Models list and retrieve, with a Bedrock id containing ':' in the path."""
    with sync_client(bridge_url) as client:
        ids = [m.id for m in client.models.list()]
        model = client.models.retrieve(HAIKU)
    assert HAIKU in ids
    assert model.id == HAIKU
    assert model.object == "model"
    assert model.owned_by == "anthropic"
    status, _, body = raw(bridge_url, "GET", "/v1/models/anthropic.claude-3-haiku-20240307-v1%3A0")
    assert status == 200
    assert body["id"] == HAIKU
    assert body["kind"] == "chat"


async def test_embeddings(bridge_url: str) -> None:
    """Embeddings accept a string or a list; vectors come back as numbers."""
    async with async_client(bridge_url) as client:
        one = await client.embeddings.create(
            model="amazon.titan-embed-text-v2:0", input="hello", encoding_format="float"
        )
        many = await client.embeddings.create(
            model="amazon.titan-embed-text-v2:0", input=["a", "b"], encoding_format="float"
        )
    assert one.data[0].embedding == [0.5, -0.25, 0.0]
    assert [d.index for d in many.data] == [0, 1]
    assert many.usage.prompt_tokens == 4


ERROR_CASES = [
    ("deny", openai.PermissionDeniedError, 403, "permission_denied", "model_access_denied"),
    ("missing", openai.NotFoundError, 404, "invalid_request_error", "model_not_found"),
    ("quota", openai.RateLimitError, 429, "insufficient_quota", "quota_exceeded"),
    ("invalid", openai.BadRequestError, 400, "invalid_request_error", "invalid_request"),
    ("throttled", openai.InternalServerError, 503, "api_error", "upstream_throttled"),
    ("timeout", openai.InternalServerError, 504, "api_error", "upstream_timeout"),
    ("crash", openai.InternalServerError, 500, "api_error", None),
]


@pytest.mark.parametrize(("model", "exception", "status", "kind", "code"), ERROR_CASES)
def test_error_classes_sync(
    bridge_url: str, model: str, exception: type[openai.APIStatusError], status: int, kind: str, code: str | None
) -> None:
    """Each gRPC status reaches the SDK as the right exception, type and code."""
    with sync_client(bridge_url) as client, pytest.raises(exception) as caught:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == status
    assert caught.value.type == kind
    assert caught.value.code == code
    assert "secret internal detail" not in str(caught.value.body)


async def test_error_classes_async(bridge_url: str) -> None:
    """The async SDK raises the same classes; ErrorInfo's field becomes `param`."""
    async with async_client(bridge_url) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.models.retrieve("nope:0")
        assert caught.value.param == "model"
    async with async_client(bridge_url, key="sk-bad") as client:
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()


def test_authentication(bridge_url: str, upstream: Upstream) -> None:
    """The Authorization header travels as metadata; wrong, missing or garbage keys get 401 from the server."""
    with sync_client(bridge_url, key="sk-bad") as client, pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert caught.value.code == "invalid_api_key"
    assert upstream.state.last_metadata["authorization"] == "Bearer sk-bad"
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Bearer caf\xe9"},
        {"Authorization": "Basic Zm9vOmJhcg=="},
    ):
        status, _, body = raw(bridge_url, "GET", "/v1/models", headers=headers)
        assert status == 401
        assert body["error"]["code"] == "invalid_api_key"
    assert_still_serving(bridge_url)


BAD_REQUESTS = [
    (b'{"model": "echo", "messages": [', 400, "malformed JSON"),
    (b"[1, 2]", 400, "body: expected an object, got an array"),
    (b'{"model": 5, "messages": []}', 400, "model: expected a string"),
    (
        b'{"model": "echo", "messages": [{"role": "robot", "content": "x"}]}',
        400,
        "messages[0].role: unknown value 'robot'",
    ),
    (b'{"model": "echo", "messages": {"role": "user"}}', 400, "messages: expected an array"),
    (b'{"model": "echo", "messages": [], "temperature": "hot"}', 400, "temperature: expected a number"),
    (b'{"model": "echo", "messages": [], "max_tokens": 1.5}', 400, "max_tokens: expected an integer"),
    (b'{"model": "echo", "messages": [], "n": 99999999999}', 400, "n: 99999999999 is out of range"),
    (b'{"model": "echo", "messages": [], "stream": "yes"}', 400, "stream: expected a boolean"),
    (b'{"model": "echo", "messages": [], "tool_choice": "sometimes"}', 400, "tool_choice.mode: unknown value"),
    (b'{"model": "\xff\xfe"}', 400, "invalid UTF-8"),
    (b'{"model": NaN}', 400, "malformed JSON"),
    (b"", 400, "malformed JSON"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_REQUESTS)
def test_bad_bodies(bridge_url: str, body: bytes, status: int, message: str) -> None:
    """Bad bodies get a 400 naming the field, with an OpenAI error body, and the server keeps serving."""
    got, _, error = raw(bridge_url, "POST", "/v1/chat/completions", body)
    assert got == status
    assert message in error["error"]["message"]
    assert error["error"]["type"] == "invalid_request_error"
    assert_still_serving(bridge_url)


def test_unknown_fields_and_nulls_are_ignored(bridge_url: str) -> None:
    """Unknown fields, nulls and neutral values of unsupported parameters pass; a missing model is the server's."""
    status, _, body = raw(
        bridge_url,
        "POST",
        "/v1/chat/completions",
        chat_body(frequency_penalty=0, logit_bias={}, seed=None, some_extension="x", top_p=None),
    )
    assert status == 200
    assert "top_p" not in json.loads(body["choices"][0]["message"]["content"])
    status, _, body = raw(bridge_url, "POST", "/v1/chat/completions", b'{"messages": []}')
    assert status == 200
    assert body["model"] == ""


def test_oversized_body(bridge_url: str) -> None:
    """Bodies over max_body_bytes get 413, by Content-Length or by counting a chunked upload."""
    big = chat_body(model="x" * 70_000)
    status, _, body = raw(bridge_url, "POST", "/v1/chat/completions", big)
    assert status == 413
    assert body["error"]["type"] == "invalid_request_error"
    status, _, body = raw(bridge_url, "POST", "/v1/chat/completions", iter([big[:40_000], big[40_000:]]))  # type: ignore[arg-type]
    assert status == 413
    assert_still_serving(bridge_url)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/models/../keys", 404),
        ("GET", "/v1/models/%2e%2e/keys", 404),
        ("GET", "/v1/models/..", 404),
        ("GET", "/v1/nope", 404),
        ("GET", "/", 404),
        ("DELETE", "/v1/models", 405),
        ("GET", "/v1/chat/completions", 405),
        ("POST", "/healthz", 405),
    ],
)
def test_routing_errors(bridge_url: str, method: str, path: str, status: int) -> None:
    """Unknown routes, dot segments and wrong methods get 404/405 with an OpenAI error body."""
    got, headers, body = raw(bridge_url, method, path, b"{}" if method == "POST" else None)
    assert got == status
    assert body["error"]["type"] == "invalid_request_error"
    if status == 405:
        assert headers["allow"]
    assert_still_serving(bridge_url)


def test_query_parameters_are_ignored_when_unknown(bridge_url: str) -> None:
    """Unknown query parameters are ignored."""
    status, _, body = raw(bridge_url, "GET", "/v1/models?api-version=2024&x=1")
    assert status == 200
    assert body["object"] == "list"


def test_healthz_and_openapi(bridge_url: str) -> None:
    """/healthz reports the gRPC health check; /openapi.json documents the generated routes with proto comments."""
    status, _, body = raw(bridge_url, "GET", "/healthz")
    assert (status, body) == (200, {"status": "serving"})
    status, _, doc = raw(bridge_url, "GET", "/openapi.json")
    assert status == 200
    assert set(doc["paths"]) >= {"/v1/chat/completions", "/v1/models", "/v1/models/{model}", "/v1/embeddings"}
    chat = doc["paths"]["/v1/chat/completions"]["post"]
    assert set(chat["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert "Answers a conversation" in chat["description"]


async def test_concurrent_streams(bridge_url: str) -> None:
    """Fifty concurrent async streams each get their whole answer over the shared channel."""

    async def one(client: openai.AsyncOpenAI) -> str:
        stream = await client.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    async with async_client(bridge_url) as client:
        answers = await asyncio.gather(*(one(client) for _ in range(50)))
    assert answers == ["Hello"] * 50


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"seed": 7}, "seed"),
        ({"logprobs": True, "top_logprobs": 3}, "logprobs, top_logprobs"),
        ({"logit_bias": {"1": 2}, "frequency_penalty": 0.1}, "frequency_penalty, logit_bias"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
    ],
)
def test_unsupported_parameters_are_400_by_name(bridge_url: str, extra: dict[str, Any], named: str) -> None:
    """A parameter Bedrock cannot honour is refused naming it, never silently dropped."""
    status, _, body = raw(bridge_url, "POST", "/v1/chat/completions", chat_body(**extra))
    assert status == 400
    assert body["error"]["message"].startswith(f"{named}: not supported")
    assert body["error"]["code"] == "unsupported_parameter"
