"""Table tests of ConverseStream events -> OpenAI chunk choices (server/providers/bedrock/stream.py)."""

from __future__ import annotations

from typing import Any

import pytest

from llmgw.server.providers.bedrock.stream import StreamTranslator
from llmgw.v1 import chat_pb2
from llmgw.wire.errors import UpstreamError

ASSISTANT = chat_pb2.ROLE_ASSISTANT


def choice(
    finish: chat_pb2.FinishReason.ValueType = chat_pb2.FINISH_REASON_UNSPECIFIED, **delta: Any
) -> chat_pb2.ChunkChoice:
    return chat_pb2.ChunkChoice(index=0, delta=chat_pb2.ChoiceDelta(**delta), finish_reason=finish)


def tool_delta(index: int, arguments: str, **fields: Any) -> chat_pb2.ToolCallDelta:
    name = fields.pop("name", "")
    return chat_pb2.ToolCallDelta(index=index, function=chat_pb2.FunctionCall(name=name, arguments=arguments), **fields)


def text_delta(block: int, value: str) -> dict[str, Any]:
    return {"contentBlockDelta": {"delta": {"text": value}, "contentBlockIndex": block}}


def tool_start(block: int, tool_id: str, name: str) -> dict[str, Any]:
    return {
        "contentBlockStart": {"start": {"toolUse": {"toolUseId": tool_id, "name": name}}, "contentBlockIndex": block}
    }


def tool_input(block: int, fragment: str) -> dict[str, Any]:
    return {"contentBlockDelta": {"delta": {"toolUse": {"input": fragment}}, "contentBlockIndex": block}}


MESSAGE_START = {"messageStart": {"role": "assistant"}}
METADATA = {
    "metadata": {"usage": {"inputTokens": 25, "outputTokens": 40, "totalTokens": 65}, "metrics": {"latencyMs": 9}}
}


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [
                MESSAGE_START,
                text_delta(0, "Hel"),
                text_delta(0, "lo"),
                {"contentBlockStop": {"contentBlockIndex": 0}},
                {"messageStop": {"stopReason": "end_turn"}},
                METADATA,
            ],
            [
                [],
                [choice(role=ASSISTANT, content="Hel")],
                [choice(content="lo")],
                [],
                [choice(chat_pb2.FINISH_REASON_STOP)],
                [],
            ],
            id="text",
        ),
        pytest.param(
            [
                MESSAGE_START,
                text_delta(0, "Checking."),
                tool_start(1, "tu_a", "get_weather"),
                tool_input(1, '{"city": "Pa'),
                tool_input(1, 'ris"}'),
                {"contentBlockStop": {"contentBlockIndex": 1}},
                tool_start(2, "tu_b", "get_time"),
                tool_input(2, "{}"),
                {"messageStop": {"stopReason": "tool_use"}},
            ],
            [
                [],
                [choice(role=ASSISTANT, content="Checking.")],
                [choice(tool_calls=[tool_delta(0, "", id="tu_a", type="function", name="get_weather")])],
                [choice(tool_calls=[tool_delta(0, '{"city": "Pa')])],
                [choice(tool_calls=[tool_delta(0, 'ris"}')])],
                [],
                [choice(tool_calls=[tool_delta(1, "", id="tu_b", type="function", name="get_time")])],
                [choice(tool_calls=[tool_delta(1, "{}")])],
                [choice(chat_pb2.FINISH_REASON_TOOL_CALLS)],
            ],
            id="text-then-two-tool-calls",
        ),
        pytest.param(
            [
                MESSAGE_START,
                {
                    "contentBlockDelta": {
                        "delta": {"reasoningContent": {"text": "Let me think"}},
                        "contentBlockIndex": 0,
                    }
                },
                {
                    "contentBlockDelta": {
                        "delta": {"reasoningContent": {"signature": "c2lnbmVk"}},
                        "contentBlockIndex": 0,
                    }
                },
                text_delta(1, ""),
                text_delta(1, "Yes"),
                {"messageStop": {"stopReason": "max_tokens"}},
            ],
            [
                [],
                [choice(role=ASSISTANT, reasoning_content="Let me think")],
                [],
                [],
                [choice(content="Yes")],
                [choice(chat_pb2.FINISH_REASON_LENGTH)],
            ],
            id="reasoning-forwarded-signature-and-empty-text-not",
        ),
        pytest.param(
            [MESSAGE_START, {"messageStop": {"stopReason": "content_filtered"}}],
            [[], [choice(chat_pb2.FINISH_REASON_CONTENT_FILTER, role=ASSISTANT)]],
            id="empty-answer-carries-role-on-finish",
        ),
    ],
)
def test_feed(events: list[dict[str, Any]], expected: list[list[chat_pb2.ChunkChoice]]) -> None:
    """Each event yields exactly the expected chunk choices, the first one with role assistant."""
    translator = StreamTranslator()
    assert [translator.feed(event) for event in events] == expected
    assert translator.finished


def test_usage_from_metadata() -> None:
    """Token counts come from the metadata event and replace the delta estimate."""
    translator = StreamTranslator()
    for event in (MESSAGE_START, text_delta(0, "a"), text_delta(0, "b"), {"messageStop": {"stopReason": "end_turn"}}):
        translator.feed(event)
    assert (translator.deltas_seen, translator.output_tokens, translator.output_tokens_estimate) == (2, None, 2)
    assert translator.finish_reason == chat_pb2.FINISH_REASON_STOP
    translator.feed(METADATA)
    assert (translator.input_tokens, translator.output_tokens, translator.output_tokens_estimate) == (25, 40, 40)


def test_stream_dying_before_metadata_keeps_estimate() -> None:
    """A stream cut short counts its deltas (text and tool) as the output estimate and is not finished."""
    translator = StreamTranslator()
    for event in (MESSAGE_START, text_delta(0, "x"), tool_start(1, "t", "f"), tool_input(1, "{"), tool_input(1, "}")):
        translator.feed(event)
    assert not translator.finished
    assert translator.finish_reason == chat_pb2.FINISH_REASON_UNSPECIFIED
    assert (translator.input_tokens, translator.output_tokens_estimate) == (0, 3)


def test_tool_input_for_unstarted_block() -> None:
    """Tool arguments for a block Bedrock never started are an upstream protocol error."""
    with pytest.raises(UpstreamError):
        StreamTranslator().feed(tool_input(3, "{}"))


def test_answer_tool_streams_as_content() -> None:
    """JSON mode: the answer tool's input is content, a preamble is not sent, a caller tool stays a tool call."""
    translator = StreamTranslator(answer_tool="city_facts")
    sent = [
        translator.feed(event)
        for event in (
            MESSAGE_START,
            text_delta(0, "Calling."),
            tool_start(1, "t1", "get_weather"),
            tool_input(1, '{"city"'),
            tool_start(2, "t2", "city_facts"),
            tool_input(2, '{"population": 1}'),
            {"messageStop": {"stopReason": "tool_use"}},
        )
    ]
    assert sent == [
        [],
        [],
        [choice(role=ASSISTANT, tool_calls=[tool_delta(0, "", id="t1", type="function", name="get_weather")])],
        [choice(tool_calls=[tool_delta(0, '{"city"')])],
        [],
        [choice(content='{"population": 1}')],
        [choice(chat_pb2.FINISH_REASON_TOOL_CALLS)],
    ]
    assert translator.deltas_seen == 3


def test_answer_tool_alone_finishes_with_stop() -> None:
    """JSON mode: an answer that called only the answer tool finishes `stop`, as OpenAI's JSON answers do."""
    translator = StreamTranslator(answer_tool="json_answer")
    for event in (tool_start(0, "t1", "json_answer"), tool_input(0, "{}"), {"messageStop": {"stopReason": "tool_use"}}):
        translator.feed(event)
    assert translator.finish_reason == chat_pb2.FINISH_REASON_STOP
