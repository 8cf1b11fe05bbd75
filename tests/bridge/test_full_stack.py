"""The bridge in front of the real gateway (gRPC server + fake Bedrock), driven by the OpenAI SDK."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest
from openai.types.chat import ChatCompletionMessageFunctionToolCall

from tests.bridge.conftest import BRIDGE_MODES, gateway_bridge
from tests.model_ids import HAIKU
from tests.support import GatewayThread


@pytest.fixture(scope="module", params=BRIDGE_MODES)
def full_bridge_url(request: pytest.FixtureRequest, gateway: GatewayThread) -> Iterator[str]:
    with gateway_bridge(gateway, request.param) as url:
        yield url


@pytest.fixture(scope="module")
def api_key(gateway: GatewayThread, full_bridge_url: str) -> str:
    return gateway.create_key("alice", f"bridge-tests-{full_bridge_url.rsplit(':', 1)[1]}")


def client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)


def test_models_and_chat(full_bridge_url: str, api_key: str) -> None:
    """Models list and retrieve (':' in the id), a unary answer and a stream that concatenates to text."""
    with client(full_bridge_url, api_key) as sdk:
        assert HAIKU in [m.id for m in sdk.models.list()]
        assert sdk.models.retrieve(HAIKU).id == HAIKU
        completion = sdk.chat.completions.create(model=HAIKU, messages=[{"role": "user", "content": "Hello"}])
        assert completion.choices[0].message.content
        assert completion.choices[0].finish_reason == "stop"
        stream = sdk.chat.completions.create(
            model=HAIKU,
            messages=[{"role": "user", "content": "Hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None


def test_gateway_errors(full_bridge_url: str, api_key: str) -> None:
    """The gateway's own refusals reach the SDK as the right classes."""
    with client(full_bridge_url, "sk-not-a-key") as sdk, pytest.raises(openai.AuthenticationError):
        sdk.models.list()
    with client(full_bridge_url, api_key) as sdk, pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("no.such-model-v1:0")


def read_sse_slowly(url: str, key: str, body: dict[str, object]) -> list[dict[str, Any]]:
    """POST a streamed chat and read the SSE answer a kilobyte at a time, pausing between reads; the chunks."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    connection.connect()
    assert connection.sock is not None
    connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connection.request("POST", "/v1/chat/completions", body=payload, headers=headers)
    response = connection.getresponse()
    assert response.status == 200
    received = b""
    deadline = time.monotonic() + 60
    while (data := response.read1(1024)) and time.monotonic() < deadline:
        received += data
        time.sleep(0.002)
    connection.close()
    events = [event.removeprefix(b"data: ") for event in received.split(b"\n\n") if event]
    assert events[-1] == b"[DONE]"
    return [json.loads(event) for event in events[:-1]]


def test_slow_reader_gets_the_whole_text_coalesced_in_order(full_bridge_url: str, api_key: str) -> None:
    """A fast Bedrock and a slow client: every word arrives once, in order, in fewer events than tokens."""
    prompt = "[[tokens:2000]] [[ttft_ms:0]] [[token_delay_ms:0]] Tell me everything"
    messages = [{"role": "user", "content": prompt}]
    with client(full_bridge_url, api_key) as sdk:
        whole = sdk.chat.completions.create(model=HAIKU, messages=messages).choices[0].message.content  # type: ignore[arg-type]
    chunks = read_sse_slowly(full_bridge_url, api_key, {"model": HAIKU, "messages": messages, "stream": True})
    texts = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert "".join(text or "" for text in texts) == whole
    assert len(whole.split()) == 2000
    assert len([text for text in texts if text]) < 2000
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_slow_reader_gets_well_formed_tool_calls(full_bridge_url: str, api_key: str) -> None:
    """Coalesced tool-call fragments: the id and name once, first; the arguments parse and match the unary call."""
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    with client(full_bridge_url, api_key) as sdk:
        unary = sdk.chat.completions.create(model=HAIKU, messages=messages, tools=[tool])  # type: ignore[arg-type, list-item]
    [expected] = unary.choices[0].message.tool_calls or []
    body = {"model": HAIKU, "messages": messages, "tools": [tool], "stream": True}
    chunks = read_sse_slowly(full_bridge_url, api_key, body)
    fragments = [call for c in chunks if c["choices"] for call in c["choices"][0]["delta"].get("tool_calls", [])]
    assert {fragment["index"] for fragment in fragments} == {0}
    assert fragments[0]["id"] == expected.id
    assert fragments[0]["function"]["name"] == "get_weather"
    assert not any(fragment["id"] for fragment in fragments[1:])
    arguments = "".join(fragment["function"]["arguments"] for fragment in fragments)
    assert isinstance(expected, ChatCompletionMessageFunctionToolCall)
    assert json.loads(arguments) == json.loads(expected.function.arguments)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
