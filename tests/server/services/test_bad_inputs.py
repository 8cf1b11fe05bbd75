"""Bad inputs are INVALID_ARGUMENT, a database outage is UNAVAILABLE logged once and over by itself."""

from __future__ import annotations

import logging
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from llmgw.server.rpc.validation import Malformed, check_request, tolerant
from llmgw.v1 import chat_pb2, chat_service_pb2, embedding_service_pb2
from llmgw.wire.errors import InvalidArgument
from tests.server.services.conftest import Gov, ask, md, reason


def _raw_chat(gov: Gov, payload: bytes) -> grpc.RpcError:
    call = gov.stubs.channel.unary_unary(
        "/llmgw.v1.ChatService/CreateChatCompletion",
        request_serializer=lambda data: data,
        response_deserializer=lambda data: data,
    )
    with pytest.raises(grpc.RpcError) as failed:
        call(payload, metadata=md(gov.alice), timeout=10)
    return failed.value


@pytest.mark.parametrize(
    "payload",
    [
        b"\x0a\xff\xff\xff\xff\x0f",  # a length past the end
        b"\x0a\x05\x0a\x03\xff\xfe\xfd",  # invalid UTF-8 in params.model
        b"\x0f\x01",  # an invalid wire type
    ],
)
def test_malformed_protobuf_is_invalid_argument(gov: Gov, payload: bytes) -> None:
    """Bytes that do not parse are INVALID_ARGUMENT with a plain message, not UNKNOWN with a class name."""
    error = _raw_chat(gov, payload)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(error) == "INVALID_REQUEST"
    assert "Error" not in (error.details() or "")


def test_out_of_range_enums_are_invalid_argument(gov: Gov) -> None:
    """Role 99 or an unknown encoding format is refused naming the field, not read as some other value."""
    request = ask()
    request.params.messages[0].role = 99  # type: ignore[assignment]  # an undeclared value on purpose
    with pytest.raises(grpc.RpcError) as refused:
        gov.stubs.chat.CreateChatCompletion(request, metadata=md(gov.alice))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "params.messages[0].role: 99 is not a valid Role" in (refused.value.details() or "")
    embedding = embedding_service_pb2.CreateEmbeddingRequest(model="amazon.titan-embed-text-v2:0", input=["a"])
    embedding.encoding_format = 7  # type: ignore[assignment]
    with pytest.raises(grpc.RpcError) as refused:
        gov.stubs.embeddings.CreateEmbedding(embedding, metadata=md(gov.alice))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_check_request_unit() -> None:
    """Declared enum values pass; the tolerant deserializer turns parse failures into Malformed."""
    good = chat_service_pb2.CreateChatCompletionRequest(
        params=chat_pb2.ChatCompletionParams(
            model="m",
            messages=[chat_pb2.ChatMessage(role=chat_pb2.ROLE_TOOL, tool_call_id="t")],
            temperature=0.5,
            stop=["x", "y"],
        )
    )
    check_request(good)
    parse = tolerant(chat_service_pb2.CreateChatCompletionRequest.FromString)
    assert parse is not None
    assert isinstance(parse(b"\xff"), Malformed)
    with pytest.raises(InvalidArgument):
        check_request(parse(b"\xff"))


def _hold_write_lock(path: Path, locked: threading.Event, release: threading.Event) -> None:
    connection = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(60)
        connection.execute("ROLLBACK")
    finally:
        connection.close()


# The outage is simulated with SQLite's write lock, so this runs on SQLite only.
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_database_outage_is_503_logged_once_and_recovers(
    gov: Gov, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """While the database refuses writes: UNAVAILABLE (DATABASE_UNAVAILABLE), one log line; then it works again."""
    gov.stubs.chat.CreateChatCompletion(ask(), metadata=md(gov.alice))  # the key is cached from here on
    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(
        target=_hold_write_lock, args=(Path(store_url.removeprefix("sqlite:///")), locked, release)
    )
    holder.start()
    try:
        assert locked.wait(10)
        with caplog.at_level(logging.INFO), ThreadPoolExecutor(5) as pool:
            failures = list(
                pool.map(lambda _: _failure(gov), range(5)),
            )
    finally:
        release.set()
        holder.join(30)
    assert [(code, why) for code, why in failures] == [(grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE")] * 5
    outage_lines = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.getMessage()[:20] for record in outage_lines] == ["database unavailable"]
    gov.stubs.chat.CreateChatCompletion(ask(), metadata=md(gov.alice))
    assert gov.gateway.gateway is not None
    with caplog.at_level(logging.INFO):
        gov.gateway.run(gov.gateway.gateway.lease_keeper.run_once())
    assert any("database answers again" in record.getMessage() for record in caplog.records)


def _failure(gov: Gov) -> tuple[grpc.StatusCode, str]:
    try:
        gov.stubs.chat.CreateChatCompletion(ask("during the outage"), metadata=md(gov.alice), timeout=60)
    except grpc.RpcError as error:
        return error.code(), reason(error)
    return grpc.StatusCode.OK, ""
