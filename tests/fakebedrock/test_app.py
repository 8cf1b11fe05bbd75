from __future__ import annotations

import http.client
import itertools
import json
import time
from contextlib import closing
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError, EventStreamError, ReadTimeoutError

from llmgw.fakebedrock.server import FakeBedrockServer
from tests.fakebedrock.conftest import CHAT_MODEL, ClientFactory, user

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient
    from mypy_boto3_bedrock_runtime.type_defs import (
        ContentBlockTypeDef,
        ConverseResponseTypeDef,
        ConverseStreamOutputTypeDef,
        InferenceConfigurationTypeDef,
        MessageUnionTypeDef,
        TokenUsageTypeDef,
        ToolConfigurationTypeDef,
    )

WEATHER_TOOLS: ToolConfigurationTypeDef = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Current weather",
                "inputSchema": {
                    "json": {
                        "type": "object",
                        "properties": {
                            "city": {"type": "string"},
                            "days": {"type": "integer"},
                            "units": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                            "detailed": {"type": "boolean"},
                        },
                    }
                },
            }
        },
        {"toolSpec": {"name": "get_time", "inputSchema": {"json": {"type": "object", "properties": {}}}}},
    ]
}


Collected = tuple[list["ConverseStreamOutputTypeDef"], str, str, str, "TokenUsageTypeDef"]


def collect(bedrock: BedrockRuntimeClient, **request: Any) -> Collected:
    """Run converse_stream and return (events, text, tool input JSON, stop reason, usage)."""
    events = list(bedrock.converse_stream(modelId=CHAT_MODEL, **request)["stream"])
    deltas = [e["contentBlockDelta"]["delta"] for e in events if "contentBlockDelta" in e]
    text = "".join(d["text"] for d in deltas if "text" in d)
    tool_input = "".join(d["toolUse"]["input"] for d in deltas if "toolUse" in d)
    stop = next(e["messageStop"]["stopReason"] for e in events if "messageStop" in e)
    return events, text, tool_input, stop, events[-1]["metadata"]["usage"]


def answer_text(response: ConverseResponseTypeDef) -> str:
    return "".join(block.get("text", "") for block in response["output"]["message"]["content"])


def test_converse_answers_with_deterministic_text(bedrock: BedrockRuntimeClient) -> None:
    """Converse returns 24 words, end_turn, and usage counting prompt words; twice the same."""
    messages = [user("tell me a story about boats")]
    first = bedrock.converse(modelId=CHAT_MODEL, messages=messages, system=[{"text": "be brief"}])
    second = bedrock.converse(modelId=CHAT_MODEL, messages=messages, system=[{"text": "be brief"}])
    assert first["output"] == second["output"]
    assert first["output"]["message"]["role"] == "assistant"
    assert len(answer_text(first).split()) == 24
    assert first["stopReason"] == "end_turn"
    assert first["usage"] == {"inputTokens": 8, "outputTokens": 24, "totalTokens": 32}
    assert first["metrics"]["latencyMs"] >= 0


def test_different_prompts_get_different_answers(bedrock: BedrockRuntimeClient) -> None:
    """The answer depends on the messages."""
    one = bedrock.converse(modelId=CHAT_MODEL, messages=[user("first prompt")])
    two = bedrock.converse(modelId=CHAT_MODEL, messages=[user("second prompt")])
    assert answer_text(one) != answer_text(two)


def test_max_tokens_cuts_the_answer(bedrock: BedrockRuntimeClient) -> None:
    """maxTokens limits the words and reports max_tokens."""
    response = bedrock.converse(modelId=CHAT_MODEL, messages=[user("long please")], inferenceConfig={"maxTokens": 5})
    assert len(answer_text(response).split()) == 5
    assert response["stopReason"] == "max_tokens"
    assert response["usage"]["outputTokens"] == 5


def test_stop_sequence_cuts_before_the_sequence(bedrock: BedrockRuntimeClient) -> None:
    """A stop sequence found in the answer ends it just before the sequence, in both APIs."""
    messages = [user("stop early [[tokens:12]]")]
    full = answer_text(bedrock.converse(modelId=CHAT_MODEL, messages=messages))
    stop = " " + full.split()[6]
    expected = full[: full.find(stop)]
    config: InferenceConfigurationTypeDef = {"stopSequences": ["never-generated", stop]}
    response = bedrock.converse(modelId=CHAT_MODEL, messages=messages, inferenceConfig=config)
    assert answer_text(response) == expected
    assert response["stopReason"] == "stop_sequence"
    _, text, _, stop_reason, usage = collect(bedrock, messages=messages, inferenceConfig=config)
    assert (text, stop_reason, usage) == (expected, "stop_sequence", response["usage"])


def test_stream_concatenates_to_the_unary_answer(bedrock: BedrockRuntimeClient) -> None:
    """ConverseStream's deltas join to Converse's text, one delta per output token, same usage."""
    messages = [user("stream this please")]
    unary = bedrock.converse(modelId=CHAT_MODEL, messages=messages)
    events, text, _, stop, usage = collect(bedrock, messages=messages)
    assert text == answer_text(unary)
    assert stop == unary["stopReason"]
    assert usage == unary["usage"]
    assert events[0] == {"messageStart": {"role": "assistant"}}
    deltas = [e for e in events if "contentBlockDelta" in e]
    assert len(deltas) == usage["outputTokens"]
    assert {"contentBlockStop": {"contentBlockIndex": 0}} in events
    assert events[-1]["metadata"]["metrics"]["latencyMs"] >= 0


def test_tools_produce_a_tool_call(bedrock: BedrockRuntimeClient) -> None:
    """With tools, Converse answers a short text and a toolUse with inputs sampled from the schema."""
    response = bedrock.converse(modelId=CHAT_MODEL, messages=[user("weather in Paris?")], toolConfig=WEATHER_TOOLS)
    content = response["output"]["message"]["content"]
    assert content[0]["text"]
    tool_use = content[1]["toolUse"]
    assert tool_use["name"] == "get_weather"
    assert tool_use["toolUseId"].startswith("tooluse_")
    assert tool_use["input"] == {"city": "sample", "days": 1, "units": "celsius", "detailed": True}
    assert response["stopReason"] == "tool_use"


def test_tool_choice_forces_the_named_tool(bedrock: BedrockRuntimeClient) -> None:
    """toolChoice.tool picks that tool rather than the first."""
    config: ToolConfigurationTypeDef = {"tools": WEATHER_TOOLS["tools"], "toolChoice": {"tool": {"name": "get_time"}}}
    response = bedrock.converse(modelId=CHAT_MODEL, messages=[user("what time is it")], toolConfig=config)
    assert response["output"]["message"]["content"][-1]["toolUse"]["name"] == "get_time"


def test_no_tool_marker_suppresses_tool_calls(bedrock: BedrockRuntimeClient) -> None:
    """[[no_tool]] makes the fake answer in text even with tools offered."""
    response = bedrock.converse(modelId=CHAT_MODEL, messages=[user("just talk [[no_tool]]")], toolConfig=WEATHER_TOOLS)
    assert response["stopReason"] == "end_turn"
    assert all("toolUse" not in block for block in response["output"]["message"]["content"])


def test_streamed_tool_call_matches_unary(bedrock: BedrockRuntimeClient) -> None:
    """The streamed tool call has start, >= 2 input fragments joining to the unary input, and stop events."""
    messages = [user("weather in Oslo?")]
    unary = bedrock.converse(modelId=CHAT_MODEL, messages=messages, toolConfig=WEATHER_TOOLS)
    tool_use = unary["output"]["message"]["content"][1]["toolUse"]
    events, text, tool_input, stop, usage = collect(bedrock, messages=messages, toolConfig=WEATHER_TOOLS)
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start == {
        "contentBlockIndex": 1,
        "start": {"toolUse": {"toolUseId": tool_use["toolUseId"], "name": "get_weather"}},
    }
    fragments = [e for e in events if "toolUse" in e.get("contentBlockDelta", {}).get("delta", {})]
    assert len(fragments) >= 2
    assert all(f["contentBlockDelta"]["contentBlockIndex"] == 1 for f in fragments)
    assert json.loads(tool_input) == tool_use["input"]
    assert {"contentBlockStop": {"contentBlockIndex": 1}} in events
    assert (text, stop, usage) == (answer_text(unary), "tool_use", unary["usage"])


def test_tool_result_round_trip(bedrock: BedrockRuntimeClient) -> None:
    """A tool result sent back is answered in text that quotes it."""
    first_turn = user("weather in Rome?")
    first = bedrock.converse(modelId=CHAT_MODEL, messages=[first_turn], toolConfig=WEATHER_TOOLS)
    assistant = first["output"]["message"]
    tool_use_id = assistant["content"][1]["toolUse"]["toolUseId"]
    result: ContentBlockTypeDef = {
        "toolResult": {"toolUseId": tool_use_id, "content": [{"json": {"temperature": 21, "sky": "clear"}}]}
    }
    messages: list[MessageUnionTypeDef] = [first_turn, assistant, {"role": "user", "content": [result]}]
    response = bedrock.converse(modelId=CHAT_MODEL, messages=messages, toolConfig=WEATHER_TOOLS)
    assert response["stopReason"] == "end_turn"
    assert '{"temperature": 21, "sky": "clear"}' in answer_text(response)


def test_image_block_arrives_intact(bedrock: BedrockRuntimeClient) -> None:
    """An image's bytes survive boto3's base64 encoding: the answer reports their exact size."""
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
    block: ContentBlockTypeDef = {"image": {"format": "png", "source": {"bytes": image}}}
    response = bedrock.converse(modelId=CHAT_MODEL, messages=[user("describe it", block)])
    assert f"image/png of {len(image)} bytes" in answer_text(response)
    assert response["usage"]["inputTokens"] == 2 + 85


def test_model_arn_with_slash_in_path(bedrock: BedrockRuntimeClient) -> None:
    """A foundation-model ARN (with '/' and ':') is accepted as modelId."""
    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{CHAT_MODEL}"
    assert bedrock.converse(modelId=arn, messages=[user("hi")])["stopReason"] == "end_turn"


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [
        ("throttle", "ThrottlingException", 429),
        ("access_denied", "AccessDeniedException", 403),
        ("validation", "ValidationException", 400),
        ("internal", "InternalServerException", 500),
        ("unavailable", "ServiceUnavailableException", 503),
        ("timeout", "ModelTimeoutException", 408),
        ("mid_stream", "ModelErrorException", 424),
    ],
)
def test_fault_markers_raise_client_errors(bedrock: BedrockRuntimeClient, fault: str, code: str, status: int) -> None:
    """Each fault marker turns Converse into the matching Bedrock error."""
    with pytest.raises(ClientError) as caught:
        bedrock.converse(modelId=CHAT_MODEL, messages=[user(f"fail [[fault:{fault}]]")])
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert caught.value.response["Error"]["Message"]


def test_faults_apply_to_streams_before_the_response(bedrock: BedrockRuntimeClient) -> None:
    """A fault on ConverseStream fails the call itself, before any event."""
    with pytest.raises(ClientError) as caught:
        bedrock.converse_stream(modelId=CHAT_MODEL, messages=[user("fail [[fault:throttle]]")])
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"


def test_throttle_n_then_success_lets_the_client_retry(client_factory: ClientFactory, fake: FakeBedrockServer) -> None:
    """[[fault:throttle:2]] throttles two identical calls, so a client with 3 attempts succeeds."""
    before = fake.app.stats.requests
    client = client_factory(attempts=3)
    response = client.converse(modelId=CHAT_MODEL, messages=[user("retry me [[fault:throttle:2]]")])
    assert response["stopReason"] == "end_turn"
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert fake.app.stats.requests - before == 3


def test_mid_stream_fault_raises_after_some_deltas(bedrock: BedrockRuntimeClient, fake: FakeBedrockServer) -> None:
    """[[fault:mid_stream]] sends a few deltas, then an in-stream modelStreamErrorException."""
    failed = fake.app.stats.streams_failed
    stream = bedrock.converse_stream(modelId=CHAT_MODEL, messages=[user("break [[fault:mid_stream]]")])["stream"]
    received: list[ConverseStreamOutputTypeDef] = []
    with closing(stream), pytest.raises(EventStreamError) as caught:
        received.extend(stream)
    assert caught.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert sum("contentBlockDelta" in event for event in received) == 3
    assert fake.app.stats.streams_failed == failed + 1


def test_hang_fault_times_out_the_client(client_factory: ClientFactory) -> None:
    """[[fault:hang]] holds the request until the client's read timeout fires."""
    client = client_factory(read_timeout=0.5)
    with pytest.raises(ReadTimeoutError):
        client.converse(modelId=CHAT_MODEL, messages=[user("wait [[fault:hang]]")])


def test_ttft_marker_delays_the_first_token(bedrock: BedrockRuntimeClient) -> None:
    """[[ttft_ms:200]] delays the first text delta by at least 200 ms."""
    started = time.perf_counter()
    stream = bedrock.converse_stream(modelId=CHAT_MODEL, messages=[user("slow start [[ttft_ms:200]]")])["stream"]
    first_delta = next(event for event in stream if "contentBlockDelta" in event)
    assert first_delta["contentBlockDelta"]["delta"]["text"]
    assert time.perf_counter() - started >= 0.2
    assert list(stream)[-1]["metadata"]["metrics"]["latencyMs"] >= 200


def test_token_delay_marker_paces_the_stream(bedrock: BedrockRuntimeClient) -> None:
    """[[token_delay_ms:30]] with 6 tokens makes the stream take at least 5 x 30 ms."""
    started = time.perf_counter()
    _, text, _, _, usage = collect(bedrock, messages=[user("pace me [[tokens:6]] [[token_delay_ms:30]]")])
    assert time.perf_counter() - started >= 0.15
    assert usage["outputTokens"] == 6 == len(text.split())


def test_client_disconnect_aborts_the_stream(bedrock: BedrockRuntimeClient, fake: FakeBedrockServer) -> None:
    """Closing a stream mid-way stops generation and counts as an aborted stream."""
    stats = fake.app.stats
    aborted, completed = stats.streams_aborted, stats.streams_completed
    prompt = user("abandon me [[tokens:500]] [[token_delay_ms:20]]")
    stream = bedrock.converse_stream(modelId=CHAT_MODEL, messages=[prompt])["stream"]
    assert len(list(itertools.islice(stream, 3))) == 3
    stream.close()
    deadline = time.monotonic() + 5
    while stats.streams_aborted == aborted and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stats.streams_aborted == aborted + 1
    assert stats.streams_completed == completed


def test_validation_errors_reach_boto(bedrock: BedrockRuntimeClient) -> None:
    """A conversation starting with an assistant message is a ValidationException."""
    with pytest.raises(ClientError) as caught:
        bedrock.converse(modelId=CHAT_MODEL, messages=[{"role": "assistant", "content": [{"text": "hi"}]}])
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_embedding_model_on_converse_is_rejected(bedrock: BedrockRuntimeClient) -> None:
    """Converse with an embedding model id is a ValidationException."""
    with pytest.raises(ClientError) as caught:
        bedrock.converse(modelId="amazon.titan-embed-text-v2:0", messages=[user("hi")])
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def raw_post(fake: FakeBedrockServer, path: str, body: bytes) -> tuple[int, str, dict[str, Any]]:
    host, port = fake.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("POST", path, body=body, headers={"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, response.getheader("x-amzn-errortype") or "", json.loads(response.read())
    finally:
        connection.close()


def test_malformed_json_is_a_validation_error(fake: FakeBedrockServer) -> None:
    """A body that is not JSON gets 400 ValidationException with a message."""
    status, error_type, body = raw_post(fake, f"/model/{CHAT_MODEL}/converse", b"{not json")
    assert status == 400
    assert error_type.startswith("ValidationException")
    assert "JSON" in body["message"]


def test_unknown_route_is_404(fake: FakeBedrockServer) -> None:
    """Paths outside the Bedrock Runtime API get 404 with a JSON message."""
    status, _, body = raw_post(fake, "/model/x/generate", b"{}")
    assert status == 404
    assert body["message"]
