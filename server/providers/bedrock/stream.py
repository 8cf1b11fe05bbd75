"""Bedrock ConverseStream events -> OpenAI chat.completion.chunk choices, coalesced per batch.

The translator is fed the event dicts exactly as boto3 yields them and returns
the chunk choices to send, so the chat service only frames and sends. Events that
arrived together (while the service was still handing over the previous chunk) become
one choice: per-token work is paid once per batch, not once per token. It also
keeps the counts the ledger needs: Bedrock's token usage when the `metadata`
event arrives, and until then the number of deltas seen, so a stream that dies
(or is abandoned) before its metadata is still charged for what was generated.

Reasoning deltas (`reasoningContent`, Claude's thinking) are forwarded as
`reasoning_content` deltas, the convention DeepSeek and other gateways use. Each
reasoning block is also gathered whole (text, signature, or redacted bytes) and sent
once as a `thinking_blocks` delta when Bedrock closes it, so a streaming client can
send it back in a tool loop exactly as a unary one. Bedrock counts all of them in
`outputTokens`, so they are charged. The service tier Bedrock reports in `metadata`
is kept for pricing and the final chunks.

For a JSON `response_format` (response_format.py) the answer tool's input deltas are sent as
`content` deltas, never as a tool call, and an answer that called only that tool finishes
with `stop`. Text the model writes besides its tool calls (a preamble; none under a forced
tool choice on the models we know) is charged but not sent, so the content is always the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmgw.server.providers.bedrock.converse import cache_write_1h, finish_reason
from llmgw.server.providers.bedrock.service_tiers import served_tier
from llmgw.server.providers.bedrock.thinking_blocks import from_reasoning_block
from llmgw.v1 import chat_pb2
from llmgw.wire.errors import UpstreamError


class StreamTranslator:
    """The state of one streamed answer: where its tool calls are and what it has used so far."""

    def __init__(self, requested_tier: str | None = None, answer_tool: str | None = None) -> None:
        self.input_tokens = 0
        self.cache_read_tokens = 0
        self.cache_write_tokens = 0
        self.cache_write_1h_tokens = 0
        self.service_tier = requested_tier or "default"
        self._requested_tier = requested_tier
        self._reasoning: dict[int, dict[str, Any]] = {}
        self.output_tokens: int | None = None
        self.deltas_seen = 0
        self.started = False
        self.finish_reason: chat_pb2.FinishReason.ValueType = chat_pb2.FINISH_REASON_UNSPECIFIED
        self.finished = False
        self._role_sent = False
        self._tool_index: dict[int, int] = {}
        self._answer_tool = answer_tool
        self._answer_blocks: set[int] = set()

    @property
    def output_tokens_estimate(self) -> int:
        """Bedrock's output count once known, else the deltas seen (about one token each)."""
        return self.output_tokens if self.output_tokens is not None else self.deltas_seen

    def feed_batch(self, events: Sequence[Mapping[str, Any]]) -> list[chat_pb2.ChunkChoice]:
        """The chunk choices for events that arrived together, coalesced (see `coalesce`)."""
        if len(events) == 1:
            return self.feed(events[0])
        return coalesce([choice for event in events for choice in self.feed(event)])

    def feed(self, event: Mapping[str, Any]) -> list[chat_pb2.ChunkChoice]:
        """The chunk choices to send for one ConverseStream event (often none)."""
        self.started = True
        if "contentBlockStart" in event:
            return self._block_start(event["contentBlockStart"])
        if "contentBlockDelta" in event:
            return self._block_delta(event["contentBlockDelta"])
        if "contentBlockStop" in event:
            return self._block_stop(int(event["contentBlockStop"].get("contentBlockIndex", 0)))
        if "messageStop" in event:
            self.finish_reason = finish_reason(str(event["messageStop"].get("stopReason", "")))
            if self.finish_reason == chat_pb2.FINISH_REASON_TOOL_CALLS and self._answer_blocks and not self._tool_index:
                self.finish_reason = chat_pb2.FINISH_REASON_STOP
            self.finished = True
            return [self._choice(chat_pb2.ChoiceDelta(), finish=self.finish_reason)]
        if "metadata" in event:
            usage: Mapping[str, Any] = event["metadata"].get("usage", {})
            self.input_tokens = int(usage.get("inputTokens", self.input_tokens))
            self.cache_read_tokens = int(usage.get("cacheReadInputTokens", 0))
            self.cache_write_tokens = int(usage.get("cacheWriteInputTokens", 0))
            self.cache_write_1h_tokens = cache_write_1h(usage)
            self.service_tier = served_tier(event["metadata"], self._requested_tier)
            if "outputTokens" in usage:
                self.output_tokens = int(usage["outputTokens"])
        return []

    def _block_start(self, payload: Mapping[str, Any]) -> list[chat_pb2.ChunkChoice]:
        tool_use = payload.get("start", {}).get("toolUse")
        if tool_use is None:
            return []
        if tool_use["name"] == self._answer_tool:
            self._answer_blocks.add(int(payload["contentBlockIndex"]))
            return []
        index = len(self._tool_index)
        self._tool_index[int(payload["contentBlockIndex"])] = index
        call = chat_pb2.ToolCallDelta(
            index=index,
            id=tool_use["toolUseId"],
            type="function",
            function=chat_pb2.FunctionCall(name=tool_use["name"], arguments=""),
        )
        return [self._choice(chat_pb2.ChoiceDelta(tool_calls=[call]))]

    def _block_delta(self, payload: Mapping[str, Any]) -> list[chat_pb2.ChunkChoice]:
        delta: Mapping[str, Any] = payload.get("delta", {})
        if "text" in delta:
            if not delta["text"]:
                return []
            self.deltas_seen += 1
            if self._answer_tool is not None:
                return []  # JSON mode: the content is the answer tool's input alone
            return [self._choice(chat_pb2.ChoiceDelta(content=delta["text"]))]
        if "reasoningContent" in delta:
            part: Mapping[str, Any] = delta["reasoningContent"]
            gathered = self._reasoning.setdefault(int(payload.get("contentBlockIndex", 0)), {})
            if "redactedContent" in part:
                gathered["redactedContent"] = part["redactedContent"]
            if "signature" in part:
                gathered.setdefault("reasoningText", {"text": ""})["signature"] = part["signature"]
            text = part.get("text", "")
            if not text:
                return []
            reasoning_text = gathered.setdefault("reasoningText", {"text": ""})
            reasoning_text["text"] += text
            self.deltas_seen += 1
            return [self._choice(chat_pb2.ChoiceDelta(reasoning_content=text))]
        if "toolUse" in delta:
            block = int(payload["contentBlockIndex"])
            if block in self._answer_blocks:
                self.deltas_seen += 1
                return [self._choice(chat_pb2.ChoiceDelta(content=delta["toolUse"].get("input", "")))]
            if block not in self._tool_index:
                raise UpstreamError("Bedrock streamed tool-call arguments for a tool call it never started.")
            self.deltas_seen += 1
            call = chat_pb2.ToolCallDelta(
                index=self._tool_index[block],
                function=chat_pb2.FunctionCall(arguments=delta["toolUse"].get("input", "")),
            )
            return [self._choice(chat_pb2.ChoiceDelta(tool_calls=[call]))]
        return []

    def _block_stop(self, index: int) -> list[chat_pb2.ChunkChoice]:
        """A closed reasoning block, whole, as a `thinking_blocks` delta (other blocks need nothing)."""
        gathered = self._reasoning.pop(index, None)
        if gathered is None:
            return []
        return [self._choice(chat_pb2.ChoiceDelta(thinking_blocks=[from_reasoning_block(gathered)]))]

    def _choice(
        self,
        delta: chat_pb2.ChoiceDelta,
        finish: chat_pb2.FinishReason.ValueType = chat_pb2.FINISH_REASON_UNSPECIFIED,
    ) -> chat_pb2.ChunkChoice:
        if not self._role_sent:
            delta.role = chat_pb2.ROLE_ASSISTANT
            self._role_sent = True
        return chat_pb2.ChunkChoice(index=0, delta=delta, finish_reason=finish)


def coalesce(choices: list[chat_pb2.ChunkChoice]) -> list[chat_pb2.ChunkChoice]:
    """Consecutive delta choices merged into one; a choice with a finish reason stays on its own.

    Text and reasoning text are concatenated in order, thinking blocks kept in order.
    Tool-call fragments stay well formed: a fragment that continues the previous entry's
    tool call (same index, no id) extends its arguments, a new tool call (an id) starts a
    new entry, so each call appears once per merged delta, its id and name (if in this
    batch) first, its arguments in order.
    """
    if len(choices) < 2:
        return choices
    merged: list[chat_pb2.ChunkChoice] = []
    pending: chat_pb2.ChunkChoice | None = None
    for choice in choices:
        if choice.finish_reason:
            if pending is not None:
                merged.append(pending)
                pending = None
            merged.append(choice)
        elif pending is None:
            pending = choice
        else:
            _merge_delta(pending.delta, choice.delta)
    if pending is not None:
        merged.append(pending)
    return merged


def _merge_delta(into: chat_pb2.ChoiceDelta, delta: chat_pb2.ChoiceDelta) -> None:
    if delta.role and not into.role:
        into.role = delta.role
    if delta.HasField("content"):
        into.content = into.content + delta.content
    if delta.HasField("reasoning_content"):
        into.reasoning_content = into.reasoning_content + delta.reasoning_content
    into.thinking_blocks.extend(delta.thinking_blocks)
    for call in delta.tool_calls:
        last = into.tool_calls[-1] if into.tool_calls else None
        if last is not None and last.index == call.index and not call.id:
            last.function.arguments += call.function.arguments
        else:
            into.tool_calls.append(call)
