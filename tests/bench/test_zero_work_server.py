from __future__ import annotations

import json

from bench.rawhttp import Connection
from bench.zero_work_server import canned_completion, canned_stream
from tests.bench.conftest import TOKENS


def test_canned_completion_is_openai_shaped() -> None:
    """The canned answer is a chat.completion with the asked number of words."""
    body = json.loads(canned_completion("m", 3))
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "word0 word1 word2"
    assert body["usage"]["completion_tokens"] == 3


def test_canned_stream_has_role_tokens_finish_and_done() -> None:
    """The canned stream is a role chunk, one chunk per word, a finish chunk and [DONE]."""
    events = canned_stream("m", 2)
    assert len(events) == 5
    assert events[-1] == b"data: [DONE]\n\n"
    finish = json.loads(events[-2].removeprefix(b"data: "))
    assert finish["choices"][0]["finish_reason"] == "stop"


async def test_serves_json_and_sse_on_one_keep_alive_connection(zero_work_address: str) -> None:
    """JSON, then SSE (chunked), then a 404, all over one connection read by the raw client."""
    host, port = zero_work_address.split(":")
    connection = Connection(host, int(port))
    try:
        unary = await connection.post("/v1/chat/completions", b'{"model":"m","messages":[]}')
        assert unary.status == 200
        assert json.loads(unary.body)["choices"][0]["message"]["content"].count("word") == TOKENS
        stream = await connection.post("/v1/chat/completions", b'{"model":"m", "stream": true}')
        assert stream.status == 200
        assert stream.body.count(b"data: ") == TOKENS + 3
        assert stream.body.endswith(b"data: [DONE]\n\n")
        missing = await connection.post("/v1/nothing", b"{}")
        assert missing.status == 404
    finally:
        await connection.close()
