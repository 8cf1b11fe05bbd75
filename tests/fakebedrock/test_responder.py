from __future__ import annotations

import json
from typing import Any

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.markers import read_knobs
from llmgw.fakebedrock.request import ConverseRequest, parse_converse
from llmgw.fakebedrock.responder import VOCABULARY, plan_answer


def request(prompt: str, **extra: Any) -> ConverseRequest:
    return parse_converse({"messages": [{"role": "user", "content": [{"text": prompt}]}], **extra})


def tools(properties: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties}
    return {"tools": [{"toolSpec": {"name": "act", "inputSchema": {"json": schema}}}]}


def test_plan_generates_the_asked_number_of_vocabulary_words() -> None:
    """Each token is one vocabulary word with its leading space (the first without)."""
    plan = plan_answer(request("hello"), output_tokens=10)
    assert len(plan.text_tokens) == plan.output_tokens == 10
    assert not plan.text_tokens[0].startswith(" ")
    assert all(token.startswith(" ") for token in plan.text_tokens[1:])
    assert all(word in VOCABULARY for word in plan.text.split())
    assert plan.stop_reason == "end_turn"


def test_stop_sequence_inside_a_word_truncates_the_token() -> None:
    """A stop sequence starting mid-word keeps the word's part before it as the last token."""
    full = plan_answer(request("cut"), output_tokens=8).text
    target = full.split()[3]
    stop = target[1:]
    expected = full[: full.find(stop)]
    plan = plan_answer(request("cut", inferenceConfig={"stopSequences": [stop]}), output_tokens=8)
    assert plan.text == expected
    assert plan.stop_reason == "stop_sequence"
    assert plan.output_tokens == len(plan.text_tokens)


def test_sample_inputs_follow_the_schema() -> None:
    """Tool inputs get string, number, boolean, array, object and enum samples."""
    properties = {
        "s": {"type": "string"},
        "n": {"type": "number"},
        "b": {"type": "boolean"},
        "a": {"type": "array"},
        "o": {"type": "object"},
        "e": {"type": "string", "enum": ["x", "y"]},
        "maybe": {"type": ["null", "integer"]},
    }
    plan = plan_answer(request("go", toolConfig=tools(properties)), output_tokens=24)
    assert plan.tool_call is not None
    assert plan.tool_call.input == {"s": "sample", "n": 1, "b": True, "a": [], "o": {}, "e": "x", "maybe": 1}
    assert plan.output_tokens == len(plan.text_tokens) + len(properties) + 1


def test_tool_input_fragments_rejoin_even_for_empty_input() -> None:
    """An empty input still streams as at least two fragments that join to valid JSON."""
    plan = plan_answer(request("go", toolConfig=tools({})), output_tokens=24)
    assert plan.tool_call is not None
    fragments = plan.tool_call.input_fragments()
    assert len(fragments) >= 2
    assert json.loads("".join(fragments)) == {}


def test_max_tokens_too_small_for_the_tool_call_drops_it() -> None:
    """When maxTokens cannot fit the tool call, the answer stops at max_tokens without one."""
    plan = plan_answer(request("go", toolConfig=tools({"s": {}}), inferenceConfig={"maxTokens": 3}), output_tokens=24)
    assert plan.tool_call is None
    assert plan.stop_reason == "max_tokens"
    assert plan.output_tokens == len(plan.text_tokens) <= 3


def test_tools_disallowed_gives_plain_text() -> None:
    """With tools disallowed (the [[no_tool]] marker) the answer is generated text."""
    plan = plan_answer(request("go", toolConfig=tools({})), output_tokens=4, tools_allowed=False)
    assert plan.tool_call is None
    assert len(plan.text_tokens) == 4


def _after_a_tool_result(choice: dict[str, Any]) -> ConverseRequest:
    """A conversation whose last turn answers a call to `look`, offering `look` and `answer`."""
    schema = {"json": {"type": "object", "properties": {}}}
    config = {
        "tools": [{"toolSpec": {"name": name, "inputSchema": schema}} for name in ("look", "answer")],
        "toolChoice": choice,
    }
    messages = [
        {"role": "user", "content": [{"text": "go"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "look", "input": {}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "seen"}]}}]},
    ]
    return parse_converse({"messages": messages, "toolConfig": config})


def test_tool_choice_any_calls_a_tool_even_after_results() -> None:
    """toolChoice any after a tool result: the fake calls the first tool not called yet; auto answers in text."""
    must = plan_answer(_after_a_tool_result({"any": {}}), output_tokens=8)
    assert must.tool_call is not None
    assert must.tool_call.name == "answer"
    assert plan_answer(_after_a_tool_result({"auto": {}}), output_tokens=8).tool_call is None


def test_token_chars_draws_each_word_out() -> None:
    """[[token_chars:N]]: as many tokens, each a vocabulary word repeated to N characters."""
    plan = plan_answer(request("go"), output_tokens=5, token_chars=12)
    assert len(plan.text_tokens) == 5
    assert [len(token.strip()) for token in plan.text_tokens] == [12] * 5
    assert read_knobs("go [[token_chars:12]]", FakeBedrockConfig()).token_chars == 12
