"""What governance costs: gRPC chat throughput with the checks on versus bypassed.

Each round starts a fresh gateway process (SQLite in a temporary directory) in front of
one fake Bedrock process answering at once (zero delay), creates a key, and drives it with
bench/loadgen.py over gRPC. "on" is the gateway as shipped: key lookup, model-access
check, quota admission in the ledger before Bedrock and settlement in the request-log
commit after. "bypassed" builds the same gateway with an `Ungoverned` stand-in injected as its
governance (defined here, not in the product): it skips the model-access check and the
ledger admission and settlement (authentication and the request log stay). Modes
alternate so machine noise hits both alike; the row per mode is the median round.

    python -m bench.governance --rounds 3 -c 32 -d 8 [--stream]

The gateway child is this module run with `serve` (it injects the stand-in through the
Gateway constructor, which `llmgw serve` does not expose).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.loadgen import MARKDOWN_HEADER, RunResult, RunSpec, run_load
from bench.processes import ProcessGroup, cpu_seconds, free_port, wait_for_port

MODES = ("on", "bypassed")
FAKE_BEDROCK = (sys.executable, "-m", "llmgw", "fake-bedrock")
KEY_FILE_WAIT_S = 30.0


async def _serve(port: int, bedrock_url: str, data_dir: Path, key_file: Path, bypass: bool) -> None:
    """The gateway child: serve gRPC until SIGTERM, after writing a fresh API key to key_file."""
    from llmgw.server.app import Gateway
    from llmgw.server.governance.admission import Governance
    from llmgw.server.governance.identity import Principal
    from llmgw.server.settings import Settings
    from llmgw.server.store import keys_repo
    from llmgw.server.store.ledger import Reservation

    class Ungoverned(Governance):
        """Governance that allows every model and reserves nothing: the "bypassed" mode."""

        async def check_model(self, principal: Principal, model_id: str) -> None:
            """Allow the model."""

        async def admit(self, principal: Principal, cost_bound_picodollars: int) -> Reservation | None:
            """Reserve nothing, so nothing is settled."""
            return None

    settings = Settings.load(
        environ={},
        data_dir=str(data_dir),
        database_url="",
        benchmark_mode=True,
        bedrock_endpoint_url=bedrock_url,
        bedrock_max_attempts=1,
        grpc_listen=f"127.0.0.1:{port}",
        default_quota_dollars="1000000",
    )
    gateway = Gateway(settings, governance=Ungoverned) if bypass else Gateway(settings)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    _, secret = keys_repo.create_key("bench", "bench", None, gateway.server_secret)
    await asyncio.to_thread(key_file.write_text, secret)
    await gateway.start()
    try:
        await stop.wait()
    finally:
        await gateway.stop(grace=1.0)


def _wait_for_key(path: Path) -> str:
    deadline = time.monotonic() + KEY_FILE_WAIT_S
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise TimeoutError(f"the gateway wrote no key to {path} within {KEY_FILE_WAIT_S} s")


def _round(
    mode: str, bedrock_url: str, work: Path, group: ProcessGroup, args: argparse.Namespace
) -> tuple[RunResult, float]:
    """One gateway process in one mode under load; returns the result and the gateway's CPU ms per request."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(dir=work, prefix=f"{mode}-"))
    key_file = data_dir / "key"
    argv = [sys.executable, "-m", "bench.governance", "serve", "--port", str(port), "--bedrock-url", bedrock_url]
    argv += ["--data-dir", str(data_dir), "--key-file", str(key_file), *(["--bypass"] if mode == "bypassed" else [])]
    process = group.start(f"gateway-{mode}-{port}", argv)
    try:
        wait_for_port(port, process)
        key = _wait_for_key(key_file)
        cpu_before = cpu_seconds(process.pid)
        spec = RunSpec(
            target="grpc",
            address=f"127.0.0.1:{port}",
            api_key=key,
            stream=args.stream,
            concurrency=args.concurrency,
            duration_s=args.duration,
            warmup_s=args.warmup,
            label=f"governance {mode}",
        )
        result = asyncio.run(run_load(spec))
        cpu_ms = (cpu_seconds(process.pid) - cpu_before) * 1000 / max(result.requests, 1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    return result, cpu_ms


def _benchmark(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="llmgw-bench-governance-"))
    results: dict[str, list[tuple[RunResult, float]]] = {mode: [] for mode in MODES}
    with ProcessGroup(work) as group:
        bedrock_port = free_port()
        fake = group.start(
            "fake-bedrock",
            [*FAKE_BEDROCK, "--port", str(bedrock_port), "--ttft-ms", "0", "--token-delay-ms", "0"],
        )
        wait_for_port(bedrock_port, fake)
        bedrock_url = f"http://127.0.0.1:{bedrock_port}"
        for round_number in range(args.rounds):
            order = MODES if round_number % 2 == 0 else tuple(reversed(MODES))
            for mode in order:
                results[mode].append(_round(mode, bedrock_url, work, group, args))
    print(f"{MARKDOWN_HEADER[: MARKDOWN_HEADER.index(chr(10))]} gateway CPU ms/req |")
    print(f"{MARKDOWN_HEADER[MARKDOWN_HEADER.index(chr(10)) + 1 :]}---|")
    medians: dict[str, RunResult] = {}
    for mode in MODES:
        ranked = sorted(results[mode], key=lambda item: item[0].rps)
        median, cpu_ms = ranked[len(ranked) // 2]
        medians[mode] = median
        print(f"{median.to_markdown()} {cpu_ms:.3f} |")
    on, off = medians["on"].rps, medians["bypassed"].rps
    every = ", ".join(f"{mode}: " + " / ".join(f"{r.rps:.0f}" for r, _ in results[mode]) for mode in MODES)
    print(
        f"\nthroughput with governance = {on / off:.1%} of bypassed ({(1 - on / off):.1%} cost);"
        f" req/s per round {every}"
    )
    print(
        f"p50 {medians['on'].p50_ms:.2f} vs {medians['bypassed'].p50_ms:.2f} ms, p99 {medians['on'].p99_ms:.2f} vs "
        f"{medians['bypassed'].p99_ms:.2f} ms; median of {args.rounds} rounds; logs in {work}"
    )
    errors = sum(result.errors for runs in results.values() for result, _ in runs)
    return 1 if errors else 0


def build_parser() -> argparse.ArgumentParser:
    """The command line: the benchmark (default) or the gateway child (`serve`)."""
    parser = argparse.ArgumentParser(prog="python -m bench.governance", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode (default: %(default)s)")
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("-d", "--duration", type=float, default=8.0, help="measured seconds per round")
    parser.add_argument("--warmup", type=float, default=1.0, help="discarded seconds per round")
    parser.add_argument("--stream", action="store_true", help="server-streaming chat instead of unary")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="(internal) run one gateway child")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--bedrock-url", required=True)
    serve.add_argument("--data-dir", type=Path, required=True)
    serve.add_argument("--key-file", type=Path, required=True)
    serve.add_argument("--bypass", action="store_true", help="inject governance that checks nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, or serve one gateway child."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        asyncio.run(_serve(args.port, args.bedrock_url, args.data_dir, args.key_file, args.bypass))
        return 0
    return _benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
