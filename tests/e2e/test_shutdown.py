"""SIGTERM during 20 active streams of a real `llmgw serve`: each finishes or ends clearly, every one is recorded."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import openai

from llmgw.server.store.db import open_database
from llmgw.server.store.models import RequestRecord
from llmgw.v1 import chat_pb2, chat_service_pb2, chat_service_pb2_grpc
from tests.e2e.conftest import LLMGW, STARTUP_TIMEOUT_S, ServedGateway, free_port, gateway_env, wait_for_http
from tests.model_ids import HAIKU

SHORT = "[[tokens:8]] [[token_delay_ms:20]] short"
LONG = "[[tokens:400]] [[token_delay_ms:50]] long"
STREAMS_PER_KIND = 5  # per protocol (gRPC, HTTP) and length (short, long): 20 in all


def _grpc_stream(target: str, key: str, prompt: str, started: threading.Event) -> str:
    message = chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text=prompt)])
    request = chat_service_pb2.StreamChatCompletionRequest(
        params=chat_pb2.ChatCompletionParams(model=HAIKU, messages=[message])
    )
    with grpc.insecure_channel(target) as channel:
        try:
            for _ in chat_service_pb2_grpc.ChatServiceStub(channel).StreamChatCompletion(
                request, metadata=(("authorization", f"Bearer {key}"),), timeout=STARTUP_TIMEOUT_S
            ):
                started.set()
        except grpc.RpcError as error:
            return f"{error.code().name}: {error.details()}"
    return "finished"


def _http_stream(url: str, key: str, prompt: str, started: threading.Event) -> str:
    with openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=STARTUP_TIMEOUT_S) as sdk:
        try:
            for _ in sdk.chat.completions.create(
                model=HAIKU, messages=[{"role": "user", "content": prompt}], stream=True
            ):
                started.set()
        except openai.APIError as error:
            return f"error: {error.message}"
    return "finished"


def test_sigterm_during_20_streams_finishes_or_ends_each_and_records_all(
    fake_bedrock_process: str, tmp_path: Path
) -> None:
    """Short streams finish, long ones end with 'shutting down' (gRPC UNAVAILABLE, an SSE error); 20 rows; exit 0."""
    http_port, grpc_port = free_port(), free_port()
    data_dir = tmp_path / "data"
    env = gateway_env(
        data_dir,
        benchmark_mode="true",
        bedrock_endpoint_url=fake_bedrock_process,
        bedrock_max_attempts="1",
        http_listen=f"127.0.0.1:{http_port}",
        grpc_listen=f"127.0.0.1:{grpc_port}",
        shutdown_grace_seconds="1.5",
        log_format="json",
    )
    process = subprocess.Popen([*LLMGW, "serve"], env=env, stderr=subprocess.PIPE)  # noqa: S603 - our own command
    served = ServedGateway(env, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", process)
    try:
        wait_for_http(f"{served.http_url}/healthz", process)
        key = served.create_key("streamer", "shutdown")
        kinds: list[tuple[Callable[[str, str, str, threading.Event], str], str, str]] = [
            (_grpc_stream, served.grpc_target, SHORT),
            (_grpc_stream, served.grpc_target, LONG),
            (_http_stream, served.http_url, SHORT),
            (_http_stream, served.http_url, LONG),
        ]
        jobs = [(kind, prompt, threading.Event()) for kind in kinds for prompt in [kind[2]] * STREAMS_PER_KIND]
        with ThreadPoolExecutor(len(jobs)) as pool:
            futures = [pool.submit(run, where, key, prompt, started) for (run, where, _), prompt, started in jobs]
            for _, _, started in jobs:
                assert started.wait(STARTUP_TIMEOUT_S), "a stream never started"
            process.send_signal(signal.SIGTERM)
            results = [future.result(timeout=STARTUP_TIMEOUT_S) for future in futures]
        exit_code = process.wait(timeout=STARTUP_TIMEOUT_S)
        stderr = process.stderr.read().decode() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
    assert exit_code == 0
    short = [result for ((_, _, length), _, _), result in zip(jobs, results, strict=True) if length == SHORT]
    long = [result for ((_, _, length), _, _), result in zip(jobs, results, strict=True) if length == LONG]
    assert short == ["finished"] * (2 * STREAMS_PER_KIND)
    assert all("shutting down" in result for result in long), long
    assert sum(result.startswith("UNAVAILABLE") for result in long) == STREAMS_PER_KIND

    database = open_database(None, data_dir)
    try:
        rows = list(RequestRecord.select().where(RequestRecord.user == "streamer"))
    finally:
        database.close()
    assert len(rows) == 4 * STREAMS_PER_KIND
    assert sorted(row.outcome for row in rows) == ["cancelled"] * 10 + ["success"] * 10
    assert all(row.output_tokens > 0 for row in rows if row.outcome == "cancelled")

    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    streams = [line for line in lines if line.get("method") == "/llmgw.v1.ChatService/StreamChatCompletion"]
    assert len(streams) == 4 * STREAMS_PER_KIND
    assert all(line["request_id"] for line in streams)
    assert key not in stderr
