"""Answer plans in Bedrock's two response shapes: the Converse JSON body and ConverseStream events."""

import base64
from dataclasses import dataclass

from llmgw.fakebedrock.responder import AnswerPlan


@dataclass(frozen=True)
class StreamEvent:
    """One ConverseStream event; `is_token` marks the deltas that are paced by the token delay."""

    event_type: str
    payload: dict[str, object]
    is_token: bool = False


def usage(plan: AnswerPlan) -> dict[str, object]:
    """The usage block both Converse and ConverseStream report; cache counts only when a cache point was sent.

    `inputTokens` excludes cache reads and writes, `totalTokens` includes them.
    """
    counts: dict[str, object] = {
        "inputTokens": plan.uncached_input_tokens,
        "outputTokens": plan.output_tokens,
        "totalTokens": plan.input_tokens + plan.output_tokens,
    }
    if plan.cache.read_tokens or plan.cache.write_tokens:
        counts["cacheReadInputTokens"] = plan.cache.read_tokens
        counts["cacheWriteInputTokens"] = plan.cache.write_tokens
        details = plan.cache.details()
        if details:
            counts["cacheDetails"] = details
    return counts


def _redacted(plan: AnswerPlan) -> str:
    return base64.b64encode(plan.redacted_reasoning).decode()


def converse_response(plan: AnswerPlan, latency_ms: int) -> dict[str, object]:
    """The Converse response body for `plan`."""
    content: list[dict[str, object]] = []
    if plan.reasoning_tokens:
        reasoning = {"reasoningText": {"text": plan.reasoning_text, "signature": plan.reasoning_signature}}
        content.append({"reasoningContent": reasoning})
    if plan.redacted_reasoning:
        content.append({"reasoningContent": {"redactedContent": _redacted(plan)}})
    if plan.text_tokens or plan.tool_call is None:
        content.append({"text": plan.text})
    if plan.tool_call is not None:
        call = plan.tool_call
        content.append({"toolUse": {"toolUseId": call.tool_use_id, "name": call.name, "input": call.input}})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": plan.stop_reason,
        "usage": usage(plan),
        "metrics": {"latencyMs": latency_ms},
        "serviceTier": {"type": plan.service_tier},
    }


def stream_events(plan: AnswerPlan) -> list[StreamEvent]:
    """The ConverseStream events for `plan`, from messageStart to messageStop (metadata comes last, timed)."""
    events = [StreamEvent("messageStart", {"role": "assistant"})]
    index = 0
    if plan.reasoning_tokens:
        if plan.reasoning_shown:
            events += [_delta(index, {"reasoningContent": {"text": token}}) for token in plan.reasoning_tokens]
        events.append(_delta(index, {"reasoningContent": {"signature": plan.reasoning_signature}}))
        events.append(StreamEvent("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    if plan.redacted_reasoning:
        events.append(_delta(index, {"reasoningContent": {"redactedContent": _redacted(plan)}}))
        events.append(StreamEvent("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    if plan.text_tokens:
        events += [_delta(index, {"text": token}) for token in plan.text_tokens]
        events.append(StreamEvent("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    if plan.tool_call is not None:
        call = plan.tool_call
        start = {"toolUse": {"toolUseId": call.tool_use_id, "name": call.name}}
        events.append(StreamEvent("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        events += [_delta(index, {"toolUse": {"input": fragment}}) for fragment in call.input_fragments()]
        events.append(StreamEvent("contentBlockStop", {"contentBlockIndex": index}))
    events.append(StreamEvent("messageStop", {"stopReason": plan.stop_reason}))
    return events


def metadata_event(plan: AnswerPlan, latency_ms: int) -> StreamEvent:
    """The closing metadata event with usage and the measured latency."""
    payload = {"usage": usage(plan), "metrics": {"latencyMs": latency_ms}, "serviceTier": {"type": plan.service_tier}}
    return StreamEvent("metadata", payload)


def _delta(index: int, delta: dict[str, object]) -> StreamEvent:
    return StreamEvent("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}, is_token=True)
