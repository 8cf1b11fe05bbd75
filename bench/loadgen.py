"""An async load generator for chat completions over HTTP (OpenAI shape) or the gRPC API.

A fixed number of workers each send one request after another until the time or request
budget runs out; a warm-up period (connections opened, caches filled) is discarded. One run
prints one row, as JSON or as a markdown table row: requests/s, p50/p99 latency, p50/p99 time
to first token (streams only), errors, and the client's own CPU per request, so a client that
eats the shared CPU shows up instead of hiding in the servers' numbers.

    python -m bench.loadgen --target http --address 127.0.0.1:8080 --key sk-... --stream -c 16 -d 10
    python -m bench.loadgen --target grpc --address 127.0.0.1:50051 --key sk-... -c 64 -d 10
    python -m bench.loadgen --target bedrock --address 127.0.0.1:8765 --stream -c 1 -d 10

The `bedrock` target sends the same question straight to a (fake) Bedrock's Converse or
ConverseStream route, unsigned: the baseline the gateway's added latency is measured against.

HTTP clients: `raw` (bench/rawhttp.py, one keep-alive connection per worker; the cheapest, so
the default) or `httpx` (httpx2.AsyncClient, one pooled client), to measure client overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from typing import Literal

import grpc

from bench.rawhttp import Connection
from llmgw.bridge.openai_shapes import OPENAI_SHAPES
from llmgw.bridge.transcode import parse_into
from llmgw.v1 import chat_pb2, chat_service_pb2, chat_service_pb2_grpc

Target = Literal["http", "grpc", "bedrock"]
ClientKind = Literal["raw", "httpx"]
DEFAULT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
CHAT_PATH = "/v1/chat/completions"
DONE = b"data: [DONE]\n\n"
GRPC_CONNECTIONS = 16

# A request returns its time to first token in seconds (None when not streamed) or raises.
Requester = Callable[[], Awaitable[float | None]]


class RequestFailed(Exception):
    """A response that was not a complete, successful answer."""


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What to load, how hard and for how long."""

    target: Target
    address: str
    api_key: str
    stream: bool = False
    concurrency: int = 1
    duration_s: float = 10.0
    max_requests: int | None = None
    warmup_s: float = 1.0
    model: str = DEFAULT_MODEL
    prompt: str = "Say hello."
    client: ClientKind = "raw"
    label: str = ""


@dataclass(frozen=True, slots=True)
class RunResult:
    """One run's numbers; times in milliseconds."""

    label: str
    target: str
    stream: bool
    concurrency: int
    client: str
    requests: int
    errors: int
    elapsed_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    client_cpu_ms_per_req: float

    def to_json(self) -> str:
        """The result as one JSON line."""
        return json.dumps(asdict(self))

    def to_markdown(self) -> str:
        """The result as one row under MARKDOWN_HEADER."""
        ttft = "-" if self.ttft_p50_ms is None else f"{self.ttft_p50_ms:.2f} / {self.ttft_p99_ms:.2f}"
        return (
            f"| {self.label or self.target} | {'stream' if self.stream else 'unary'} | {self.concurrency} "
            f"| {self.requests} | {self.errors} | {self.rps:.0f} | {self.p50_ms:.2f} | {self.p99_ms:.2f} "
            f"| {ttft} | {self.client_cpu_ms_per_req:.3f} |"
        )


MARKDOWN_HEADER = (
    "| target | mode | conc | requests | errors | req/s | p50 ms | p99 ms | TTFT p50 / p99 ms | client CPU ms/req |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def chat_body(spec: RunSpec) -> dict[str, object]:
    """The OpenAI-shaped request body every run sends (the gRPC run sends its proto form)."""
    body: dict[str, object] = {"model": spec.model, "messages": [{"role": "user", "content": spec.prompt}]}
    if spec.stream:
        body["stream"] = True
    return body


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an already sorted, non-empty list."""
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _check_http(status: int, body: bytes, stream: bool) -> None:
    if status != 200:
        raise RequestFailed(f"HTTP {status}: {body[:200]!r}")
    if stream and not body.endswith(DONE):
        raise RequestFailed(f"stream did not end with [DONE]: {body[-200:]!r}")
    if not stream and b'"choices"' not in body:
        raise RequestFailed(f"no choices in {body[:200]!r}")


def _check_bedrock(status: int, body: bytes, stream: bool) -> None:
    if status != 200:
        raise RequestFailed(f"HTTP {status}: {body[:200]!r}")
    # ConverseStream ends with its metadata event; Converse answers with the usage.
    if (b"metadata" if stream else b'"usage"') not in body[-600:]:
        raise RequestFailed(f"incomplete answer: {body[-200:]!r}")


@dataclass(frozen=True, slots=True)
class _RawRoute:
    """What one raw-client request sends and checks: the gateway's chat route, or Bedrock's own."""

    path: str
    body: bytes
    headers: dict[str, str]
    check: Callable[[int, bytes, bool], None]
    timed: bool  # whether the first body byte is the first token (not for Bedrock, whose stream starts before it)


def _raw_route(spec: RunSpec) -> _RawRoute:
    if spec.target == "bedrock":
        body = json.dumps({"messages": [{"role": "user", "content": [{"text": spec.prompt}]}]}).encode()
        path = f"/model/{spec.model}/{'converse-stream' if spec.stream else 'converse'}"
        return _RawRoute(path, body, {}, _check_bedrock, timed=False)
    headers = {"authorization": f"Bearer {spec.api_key}"}
    return _RawRoute(CHAT_PATH, json.dumps(chat_body(spec)).encode(), headers, _check_http, timed=spec.stream)


async def _raw_requesters(spec: RunSpec, stack: AsyncExitStack) -> list[Requester]:
    host, port = _split_address(spec.address)
    route = _raw_route(spec)
    requesters: list[Requester] = []
    for _ in range(spec.concurrency):
        connection = Connection(host, port, headers=route.headers)
        stack.push_async_callback(connection.close)

        async def request(connection: Connection = connection) -> float | None:
            started = time.perf_counter()
            response = await connection.post(route.path, route.body)
            route.check(response.status, response.body, spec.stream)
            return response.first_byte_at - started if route.timed else None

        requesters.append(request)
    return requesters


async def _httpx_requesters(spec: RunSpec, stack: AsyncExitStack) -> list[Requester]:
    import httpx2

    limits = httpx2.Limits(max_connections=spec.concurrency, max_keepalive_connections=spec.concurrency)
    client = await stack.enter_async_context(
        httpx2.AsyncClient(
            base_url=f"http://{spec.address}", headers={"authorization": f"Bearer {spec.api_key}"}, limits=limits
        )
    )
    body = json.dumps(chat_body(spec)).encode()
    headers = {"content-type": "application/json"}

    async def request() -> float | None:
        started = time.perf_counter()
        if not spec.stream:
            response = await client.post(CHAT_PATH, content=body, headers=headers)
            _check_http(response.status_code, response.content, False)
            return None
        first_byte_at = 0.0
        parts: list[bytes] = []
        async with client.stream("POST", CHAT_PATH, content=body, headers=headers) as response:
            async for part in response.aiter_raw():
                if not parts:
                    first_byte_at = time.perf_counter()
                parts.append(part)
        _check_http(response.status_code, b"".join(parts), True)
        return first_byte_at - started

    return [request] * spec.concurrency


async def _grpc_requesters(spec: RunSpec, stack: AsyncExitStack) -> list[Requester]:
    # Several connections (a local subchannel pool each), so a gateway with several workers
    # sharing the port gets its calls spread over them, as many real clients would.
    stubs: list[chat_service_pb2_grpc.ChatServiceAsyncStub] = []
    for _ in range(max(1, min(spec.concurrency, GRPC_CONNECTIONS))):
        channel = grpc.aio.insecure_channel(spec.address, options=[("grpc.use_local_subchannel_pool", 1)])
        stack.push_async_callback(channel.close)
        stubs.append(chat_service_pb2_grpc.ChatServiceStub(channel))
    params = chat_pb2.ChatCompletionParams()
    parse_into(params, chat_body(spec), "", OPENAI_SHAPES)
    metadata = (("authorization", f"Bearer {spec.api_key}"),)

    def requester(stub: chat_service_pb2_grpc.ChatServiceAsyncStub) -> Requester:
        async def unary() -> float | None:
            response = await stub.CreateChatCompletion(
                chat_service_pb2.CreateChatCompletionRequest(params=params), metadata=metadata
            )
            if not response.completion.choices:
                raise RequestFailed("no choices in the completion")
            return None

        async def streamed() -> float | None:
            started = time.perf_counter()
            first_at = 0.0
            chunks = 0
            async for _ in stub.StreamChatCompletion(
                chat_service_pb2.StreamChatCompletionRequest(params=params), metadata=metadata
            ):
                if not chunks:
                    first_at = time.perf_counter()
                chunks += 1
            if not chunks:
                raise RequestFailed("empty stream")
            return first_at - started

        return streamed if spec.stream else unary

    return [requester(stubs[n % len(stubs)]) for n in range(spec.concurrency)]


async def run_load(spec: RunSpec) -> RunResult:
    """Drive the target with spec.concurrency workers and measure what comes back."""
    async with AsyncExitStack() as stack:
        if spec.target == "grpc":
            requesters = await _grpc_requesters(spec, stack)
        elif spec.client == "httpx" and spec.target == "http":
            requesters = await _httpx_requesters(spec, stack)
        else:
            requesters = await _raw_requesters(spec, stack)
        return await _drive(spec, requesters)


async def _drive(spec: RunSpec, requesters: list[Requester]) -> RunResult:
    latencies: list[float] = []
    ttfts: list[float] = []
    errors: list[str] = []
    budget = [spec.max_requests if spec.max_requests is not None else -1]
    measure_from = time.perf_counter() + spec.warmup_s
    stop_at = measure_from + spec.duration_s
    last_end = [measure_from]

    async def worker(request: Requester) -> None:
        while True:
            started = time.perf_counter()
            if started >= stop_at or budget[0] == 0:
                return
            measured = started >= measure_from
            if measured and budget[0] > 0:
                budget[0] -= 1
            try:
                ttft = await request()
            except (RequestFailed, OSError, asyncio.IncompleteReadError, grpc.aio.AioRpcError) as exc:
                if measured:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            ended = time.perf_counter()
            if measured:
                latencies.append(ended - started)
                if ttft is not None:
                    ttfts.append(ttft)
                last_end[0] = max(last_end[0], ended)

    cpu_before = time.process_time()
    await asyncio.gather(*(worker(request) for request in requesters))
    cpu_used = time.process_time() - cpu_before
    if errors:
        print(f"loadgen: {len(errors)} errors, first: {errors[0][:300]}", file=sys.stderr)
    return _summarise(spec, latencies, ttfts, len(errors), last_end[0] - measure_from, cpu_used)


def _summarise(
    spec: RunSpec, latencies: list[float], ttfts: list[float], errors: int, elapsed: float, cpu_used: float
) -> RunResult:
    latencies.sort()
    ttfts.sort()
    count = len(latencies)
    total_requests = max(1, count + errors)
    return RunResult(
        label=spec.label,
        target=spec.target,
        stream=spec.stream,
        concurrency=spec.concurrency,
        client="grpc.aio" if spec.target == "grpc" else "raw" if spec.target == "bedrock" else spec.client,
        requests=count,
        errors=errors,
        elapsed_s=round(elapsed, 3),
        rps=count / elapsed if elapsed > 0 else 0.0,
        p50_ms=percentile(latencies, 0.50) * 1000 if latencies else float("nan"),
        p99_ms=percentile(latencies, 0.99) * 1000 if latencies else float("nan"),
        ttft_p50_ms=percentile(ttfts, 0.50) * 1000 if ttfts else None,
        ttft_p99_ms=percentile(ttfts, 0.99) * 1000 if ttfts else None,
        # Includes the warm-up's share; a fair upper bound on the client's cost per request.
        client_cpu_ms_per_req=cpu_used * 1000 / total_requests,
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line of one run."""
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=["http", "grpc", "bedrock"], required=True)
    parser.add_argument("--address", required=True, help="HOST:PORT of the HTTP or gRPC server, or of Bedrock")
    parser.add_argument("--key", default="none", help="API key sent as a bearer token")
    parser.add_argument("--stream", action="store_true", help="stream (SSE over HTTP, server-streaming RPC)")
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="measured seconds (after warm-up)")
    parser.add_argument("-n", "--requests", type=int, default=None, help="stop after this many measured requests")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of discarded warm-up")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw", help="HTTP client (default: raw)")
    parser.add_argument("--label", default="", help="name of the run in the output row")
    parser.add_argument("--format", choices=["json", "markdown"], default="json")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run once and print one row; exit status 1 when every request failed."""
    args = build_parser().parse_args(argv)
    if args.concurrency < 1:
        print("loadgen: --concurrency must be at least 1", file=sys.stderr)
        return 2
    spec = RunSpec(
        target=args.target,
        address=args.address,
        api_key=args.key,
        stream=args.stream,
        concurrency=args.concurrency,
        duration_s=args.duration,
        max_requests=args.requests,
        warmup_s=args.warmup,
        model=args.model,
        client=args.client,
        label=args.label,
    )
    result = asyncio.run(run_load(spec))
    print(result.to_json() if args.format == "json" else f"{MARKDOWN_HEADER}\n{result.to_markdown()}")
    return 1 if result.requests == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
