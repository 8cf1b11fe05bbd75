"""response_format json_object / json_schema through the OpenAI SDK: a JSON answer as the message content."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.bridge.conftest import LoopThread, running_bridge
from tests.model_ids import HAIKU
from tests.server.services.conftest import Gov

SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
}


@pytest.fixture
def sdk(gov: Gov) -> Iterator[openai.OpenAI]:
    """The OpenAI SDK on the bridge in front of this test's gateway, as alice."""
    loop = LoopThread()
    try:
        with (
            running_bridge(loop, gov.gateway.grpc_target) as url,
            openai.OpenAI(base_url=f"{url}/v1", api_key=gov.alice, max_retries=0) as client,
        ):
            yield client
    finally:
        loop.close()


def test_json_schema_answer_is_the_content(sdk: openai.OpenAI) -> None:
    """json_schema: the content parses as JSON with the schema's required fields; finish_reason stop, no tool calls."""
    reply = sdk.chat.completions.create(
        model=HAIKU,
        messages=[{"role": "user", "content": "The largest city in France?"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city_facts", "schema": SCHEMA, "strict": True},
        },
    )
    choice = reply.choices[0]
    answer = json.loads(choice.message.content or "")
    assert set(answer) >= {"city", "population"}
    assert isinstance(answer["population"], int)
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls


def test_json_object_answer_is_an_object(sdk: openai.OpenAI) -> None:
    """json_object: the content is one JSON object."""
    reply = sdk.chat.completions.create(
        model=HAIKU, messages=[{"role": "user", "content": "Answer in JSON"}], response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"stream": True}, "not supported with stream"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}, "tools"),
    ],
)
def test_json_answers_that_cannot_be_honoured_are_400(
    sdk: openai.OpenAI, extra: dict[str, object], message: str
) -> None:
    """With stream or the caller's own tools, a JSON response_format is refused by name, not ignored."""
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(
            model=HAIKU,
            messages=[{"role": "user", "content": "hi"}],
            response_format={"type": "json_object"},
            extra_body=extra,
        )
    assert message in str(refused.value)
    assert refused.value.body is not None
