"""The hand-written chat chunk encoder writes exactly what the generic transcoder writes (bridge/chunks.py)."""

from __future__ import annotations

import json

import pytest

from llmgw.bridge.chunks import FAST_PATH, encode_chunk
from llmgw.bridge.codec import dumps
from llmgw.bridge.openai_shapes import OPENAI_SHAPES
from llmgw.bridge.transcode import message_to_dict
from llmgw.v1 import chat_pb2


def envelope(
    choices: list[chat_pb2.ChunkChoice] | None = None, usage: chat_pb2.Usage | None = None
) -> chat_pb2.ChatCompletionChunk:
    return chat_pb2.ChatCompletionChunk(
        id='chatcmpl-ü"1',
        object="chat.completion.chunk",
        created=1_700_000_000,
        model="m:0",
        choices=choices,
        usage=usage,
    )


TEXTS = ["", "Hi", ' "quoted" \\ back', "line\nbreak\ttab\u0001", "ünïcødé 🦜 \u2028", "</script>"]


def with_tier(chunk: chat_pb2.ChatCompletionChunk) -> chat_pb2.ChatCompletionChunk:
    chunk.service_tier = "default"
    return chunk


def shapes() -> list[chat_pb2.ChatCompletionChunk]:
    chunks = [envelope()]
    for text in TEXTS:
        chunks.append(envelope(choices=[chat_pb2.ChunkChoice(delta=chat_pb2.ChoiceDelta(content=text))]))
    chunks.append(
        envelope(
            choices=[chat_pb2.ChunkChoice(delta=chat_pb2.ChoiceDelta(role=chat_pb2.ROLE_ASSISTANT, content="a"))],
        )
    )
    start = chat_pb2.ToolCallDelta(
        index=1, id="tooluse_1", type="function", function=chat_pb2.FunctionCall(name="get_weather", arguments="")
    )
    more = chat_pb2.ToolCallDelta(index=1, function=chat_pb2.FunctionCall(arguments='{"city": "Paris\\n"}'))
    bare = chat_pb2.ToolCallDelta(index=2)
    chunks.append(
        envelope(
            choices=[chat_pb2.ChunkChoice(delta=chat_pb2.ChoiceDelta(content="x", tool_calls=[start, more, bare]))],
        )
    )
    for reason in chat_pb2.FinishReason.values():
        chunks.append(envelope(choices=[chat_pb2.ChunkChoice(delta=chat_pb2.ChoiceDelta(), finish_reason=reason)]))
    chunks.append(envelope(choices=[chat_pb2.ChunkChoice(index=3)]))
    reasoning = chat_pb2.ChoiceDelta(reasoning_content='hmm "', thinking_blocks=[chat_pb2.ThinkingBlock()])
    chunks.append(envelope(choices=[chat_pb2.ChunkChoice(delta=reasoning)]))
    chunks.append(with_tier(envelope(choices=[chat_pb2.ChunkChoice(finish_reason=chat_pb2.FINISH_REASON_STOP)])))
    chunks.append(
        envelope(
            usage=chat_pb2.Usage(prompt_tokens=3, completion_tokens=5, total_tokens=8, cost_usd="0.000012"),
        )
    )
    return chunks


def test_the_fast_path_is_on() -> None:
    """The encoder knows every field of the chunk's messages, so the bridge uses it."""
    assert FAST_PATH


@pytest.mark.parametrize("chunk", shapes(), ids=lambda chunk: str(chunk.ByteSize()))
def test_same_bytes_as_the_generic_path(chunk: chat_pb2.ChatCompletionChunk) -> None:
    """Byte for byte what message_to_dict + dumps produce, and valid JSON."""
    generic = dumps(message_to_dict(chunk, top_level=True, shapes=OPENAI_SHAPES))
    assert encode_chunk(chunk) == generic
    json.loads(encode_chunk(chunk))
