"""Which Bedrock client costs least: CPU per 16-token ConverseStream, client process only.

Runs N streams at concurrency C against a Bedrock endpoint (the fake, with zero delay) with
one of three clients and prints the client's CPU (getrusage, after a warm-up) per stream:

- `gateway`: the gateway's own client (its SigV4 signer and event-stream decoder, botocore's
  credentials and retry rules, over aiohttp; server/providers/bedrock/client.py), on uvloop;
- `boto3-threads`: boto3 on a thread pool, as the gateway did before issue 9;
- `aiobotocore`: the async botocore client. It is not a dependency of the project; run this
  mode with an interpreter that has aiobotocore and uvloop installed (the mode imports
  nothing from llmgw).

    .venv/bin/python -m llmgw fake-bedrock --port 8765 --ttft-ms 0 --token-delay-ms 0 --output-tokens 16 &
    .venv/bin/python bench/bedrock_clients.py --client gateway --url http://127.0.0.1:8765
    /path/to/venv-with-aiobotocore/bin/python bench/bedrock_clients.py --client aiobotocore --url ...
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
REQUEST: dict[str, Any] = {
    "modelId": MODEL,
    "messages": [{"role": "user", "content": [{"text": "Tell me a story"}]}],
    "inferenceConfig": {"maxTokens": 100},
}
CREDENTIALS = {"aws_access_key_id": "AKIDBENCH", "aws_secret_access_key": "bench-secret", "region_name": "us-east-1"}

OneStream = Callable[[], Awaitable[int]]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run(one: OneStream, streams: int, concurrency: int) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and events for `streams` streams at `concurrency`."""
    remaining = streams
    events = 0

    async def worker() -> None:
        nonlocal remaining, events
        while remaining > 0:
            remaining -= 1
            count = await one()
            events += count

    started, cpu = time.perf_counter(), _cpu()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, _cpu() - cpu, events


async def _gateway(url: str, streams: int, concurrency: int) -> tuple[float, float, int]:
    from llmgw.server.providers.bedrock.client import BedrockClient, BedrockClientConfig

    client = BedrockClient(
        BedrockClientConfig(
            region=CREDENTIALS["region_name"],
            endpoint_url=url,
            access_key_id=CREDENTIALS["aws_access_key_id"],
            secret_access_key=CREDENTIALS["aws_secret_access_key"],
        )
    )

    async def one() -> int:
        return sum([1 async for _ in client.converse_stream(REQUEST)])

    try:
        await _run(one, max(50, streams // 10), concurrency)
        return await _run(one, streams, concurrency)
    finally:
        await client.close()


async def _aiobotocore(url: str, streams: int, concurrency: int) -> tuple[float, float, int]:
    from aiobotocore.session import get_session  # type: ignore[import-not-found]

    session = get_session()
    async with session.create_client("bedrock-runtime", endpoint_url=url, **CREDENTIALS) as client:

        async def one() -> int:
            response = await client.converse_stream(**REQUEST)
            return sum([1 async for _ in response["stream"]])

        await _run(one, max(50, streams // 10), concurrency)
        return await _run(one, streams, concurrency)


async def _boto3_threads(url: str, streams: int, concurrency: int) -> tuple[float, float, int]:
    import boto3  # noqa: TID251  # the client the gateway used before, measured for comparison
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
        region_name=CREDENTIALS["region_name"],
    )
    client = session.client("bedrock-runtime", endpoint_url=url, config=Config(max_pool_connections=concurrency))
    executor = ThreadPoolExecutor(max_workers=concurrency)
    loop = asyncio.get_running_loop()

    def blocking() -> int:
        return sum(1 for _ in client.converse_stream(**REQUEST)["stream"])

    async def one() -> int:
        return await loop.run_in_executor(executor, blocking)

    try:
        await _run(one, max(50, streams // 10), concurrency)
        return await _run(one, streams, concurrency)
    finally:
        executor.shutdown()


CLIENTS = {"gateway": _gateway, "aiobotocore": _aiobotocore, "boto3-threads": _boto3_threads}


def main(argv: list[str] | None = None) -> int:
    """Measure one client and print a markdown row."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", choices=sorted(CLIENTS), required=True)
    parser.add_argument("--url", required=True, help="the Bedrock endpoint (the fake, zero delay)")
    parser.add_argument("-n", "--streams", type=int, default=2000)
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    import uvloop

    wall, cpu, events = uvloop.run(CLIENTS[args.client](args.url, args.streams, args.concurrency))
    print(
        f"| {args.client} | {args.concurrency} | {args.streams / wall:.0f} | {cpu * 1000 / args.streams:.2f} "
        f"| {events / args.streams:.1f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
