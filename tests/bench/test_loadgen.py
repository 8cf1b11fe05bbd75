from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from bench.loadgen import MARKDOWN_HEADER, ClientKind, RunSpec, main, percentile, run_load
from bench.processes import free_port
from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.server import FakeBedrockServer
from tests.support import GatewayThread, gateway_settings


def test_percentile_is_nearest_rank() -> None:
    """p50 and p99 of 1..100 are 50 and 99; one value is every percentile."""
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0


@pytest.mark.parametrize("client", ["raw", "httpx"])
@pytest.mark.parametrize("stream", [False, True])
async def test_http_run_counts_every_request(zero_work_address: str, client: ClientKind, stream: bool) -> None:
    """A request budget is met exactly, without errors, with TTFT only for streams."""
    spec = RunSpec(
        target="http",
        address=zero_work_address,
        api_key="k",
        stream=stream,
        concurrency=4,
        duration_s=30,
        max_requests=40,
        warmup_s=0,
        client=client,
    )
    result = await run_load(spec)
    assert (result.requests, result.errors) == (40, 0)
    assert 0 < result.p50_ms <= result.p99_ms
    if stream:
        assert result.ttft_p50_ms is not None
        assert result.ttft_p50_ms <= result.p99_ms
    else:
        assert result.ttft_p50_ms is None


@pytest.mark.parametrize("stream", [False, True])
async def test_bedrock_run_asks_the_fake_directly(stream: bool) -> None:
    """The `bedrock` target answers from the fake's Converse routes, complete answers only, without TTFT."""
    with FakeBedrockServer(FakeBedrockConfig(output_tokens=3)) as fake:
        address = fake.url.removeprefix("http://")
        spec = RunSpec(
            target="bedrock", address=address, api_key="", stream=stream, concurrency=2, max_requests=10, warmup_s=0
        )
        result = await run_load(spec)
        started = fake.app.stats.streams_started
    assert (result.requests, result.errors) == (10, 0)
    assert result.ttft_p50_ms is None
    assert started == (10 if stream else 0)


async def test_refused_connections_are_errors_not_samples() -> None:
    """Requests to a port where nothing listens are counted as errors, and the run ends on time."""
    spec = RunSpec(target="http", address=f"127.0.0.1:{free_port()}", api_key="k", duration_s=0.3, warmup_s=0)
    result = await run_load(spec)
    assert result.requests == 0
    assert result.errors > 0


async def test_cli_prints_one_json_row(zero_work_address: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The command line prints one JSON object per run (run in a thread: it owns its own loop)."""
    argv = ["--target", "http", "--address", zero_work_address, "-n", "5", "--warmup", "0", "--label", "z"]
    assert await asyncio.to_thread(main, argv) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["label"] == "z"
    assert row["requests"] == 5


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayThread, str]]:
    with FakeBedrockServer(FakeBedrockConfig(output_tokens=3)) as fake:
        thread = GatewayThread(gateway_settings(tmp_path_factory.mktemp("gw"), fake.url)).start()
        try:
            yield thread, thread.create_key("bench", "bench")
        finally:
            thread.stop()


@pytest.mark.parametrize("stream", [False, True])
async def test_grpc_run_against_the_gateway(gateway: tuple[GatewayThread, str], stream: bool) -> None:
    """The gRPC client completes chat calls against a real gateway and fake Bedrock."""
    thread, key = gateway
    spec = RunSpec(
        target="grpc", address=thread.grpc_target, api_key=key, stream=stream, concurrency=2, max_requests=6, warmup_s=0
    )
    result = await run_load(spec)
    assert (result.requests, result.errors) == (6, 0)
    assert (result.ttft_p50_ms is not None) == stream
    assert result.to_markdown().count("|") == MARKDOWN_HEADER.splitlines()[0].count("|")


async def test_grpc_run_with_a_bad_key_counts_errors(gateway: tuple[GatewayThread, str]) -> None:
    """UNAUTHENTICATED answers are errors, and the run still ends on time."""
    thread, _ = gateway
    spec = RunSpec(target="grpc", address=thread.grpc_target, api_key="sk-wrong", duration_s=0.3, warmup_s=0)
    result = await run_load(spec)
    assert result.requests == 0
    assert result.errors > 0
