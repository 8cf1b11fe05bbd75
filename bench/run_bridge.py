"""The bridge benchmark matrix: zero-work server vs gRPC direct vs HTTP bridge.

Starts, each in its own process on a free 127.0.0.1 port: the fake Bedrock with zero delay,
the gateway (`llmgw serve`: gRPC and the HTTP bridge in one process, SQLite in a temporary
data directory, benchmark mode), a bridge-only process (`llmgw serve --http-only`) in front of
that gateway's gRPC port, and the zero-work server. Then for each mode (unary, stream)
and concurrency it runs the load generator, in its own process, against each target in turn
(TARGETS, or --targets), so that the ratios compare runs seconds apart on a shared, noisy
machine. Every row adds
the CPU each server process spent per request, read from /proc. Stops everything at the end.

    .venv/bin/python -m bench.run_bridge [--duration 10] [--concurrency 1 16 64] [--out rows.jsonl]
    .venv/bin/python -m bench.run_bridge --profile 15 --profile-targets grpc http-bridge
    .venv/bin/python -m bench.run_bridge --skip-matrix --compare-clients --duration 5
    .venv/bin/python -m bench.run_bridge --targets grpc http-bridge --concurrency 1 64

With `--profile S`, the matrix is followed by py-spy sampling the gateway for S seconds under
load at concurrency 16 on each of `--profile-targets` (default: the HTTP bridge), once unary
and once streaming; the collapsed stacks are written
to the profile directory and summarised by bench/profile_summary.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.processes import ProcessGroup, cpu_seconds, free_port, wait_for_port
from bench.profile_summary import summarise_file

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
QUOTA_DOLLARS = "1000000"  # the benchmark must never hit the default quota
LOADGEN_GRACE_S = 60.0
# zero-work: the ceiling; grpc: the API directly; http-bridge: `llmgw serve` (bridge and gRPC
# server in one process); http-split: a second, bridge-only process in front of the same server.
TARGETS = ("zero-work", "grpc", "http-bridge", "http-split")


@dataclass(frozen=True, slots=True)
class Stack:
    """Where the started servers listen, their pids and the benchmark key."""

    fake_port: int
    grpc_port: int
    http_port: int
    zero_port: int
    split_port: int
    gateway_pid: int
    fake_pid: int
    zero_pid: int
    split_pid: int
    api_key: str


def gateway_env(data_dir: Path, fake_port: int, grpc_port: int, http_port: int) -> dict[str, str]:
    """The environment `llmgw serve` and `llmgw keys create` run with."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LLMGW_")}
    env.update(
        {
            "LLMGW_DATA_DIR": str(data_dir),
            "LLMGW_DATABASE_URL": "",
            "LLMGW_BENCHMARK_MODE": "true",
            "LLMGW_BEDROCK_ENDPOINT_URL": f"http://127.0.0.1:{fake_port}",
            "LLMGW_BEDROCK_MAX_ATTEMPTS": "1",
            "LLMGW_GRPC_LISTEN": f"127.0.0.1:{grpc_port}",
            "LLMGW_HTTP_LISTEN": f"127.0.0.1:{http_port}",
            "LLMGW_DEFAULT_QUOTA_DOLLARS": QUOTA_DOLLARS,
            "LLMGW_SHUTDOWN_GRACE_SECONDS": "2",
            "LLMGW_WORKERS": "1",  # this matrix compares one gateway process (bench/run_load.py uses workers)
        }
    )
    return env


def start_stack(group: ProcessGroup, work_dir: Path, tokens: int) -> Stack:
    """Start the fake Bedrock, the gateway, a second bridge-only process and the zero-work server."""
    fake_port, grpc_port, http_port, zero_port, split_port = (free_port() for _ in range(5))
    fake = group.start(
        "fake-bedrock",
        [
            PY,
            "-m",
            "llmgw",
            "fake-bedrock",
            "--port",
            str(fake_port),
            "--ttft-ms",
            "0",
            "--token-delay-ms",
            "0",
            "--output-tokens",
            str(tokens),
        ],
    )
    zero = group.start(
        "zero-work", [PY, "-m", "bench.zero_work_server", "--port", str(zero_port), "--tokens", str(tokens)]
    )
    env = gateway_env(work_dir / "data", fake_port, grpc_port, http_port)
    created = subprocess.run(
        [PY, "-m", "llmgw", "keys", "create", "--user", "bench", "--name", "bench"],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    api_key = created.stdout.decode().strip()
    gateway = group.start("gateway", [PY, "-m", "llmgw", "serve"], env=env)
    split_env = {**env, "LLMGW_HTTP_LISTEN": f"127.0.0.1:{split_port}"}
    split = group.start(
        "bridge-only",
        [PY, "-m", "llmgw", "serve", "--http-only", "--grpc-target", f"127.0.0.1:{grpc_port}"],
        env=split_env,
    )
    for port, process in ((fake_port, fake), (zero_port, zero), (grpc_port, gateway), (http_port, gateway)):
        wait_for_port(port, process)
    wait_for_port(split_port, split)
    return Stack(
        fake_port, grpc_port, http_port, zero_port, split_port, gateway.pid, fake.pid, zero.pid, split.pid, api_key
    )


def run_one(
    stack: Stack, target: str, stream: bool, concurrency: int, duration: float, warmup: float, client: str = "raw"
) -> dict[str, object]:
    """One load-generator run in its own process, plus each server's CPU per request."""
    ports = {"grpc": stack.grpc_port, "http-bridge": stack.http_port, "http-split": stack.split_port}
    address = f"127.0.0.1:{ports.get(target, stack.zero_port)}"
    argv = [PY, "-m", "bench.loadgen", "--target", "grpc" if target == "grpc" else "http", "--address", address]
    argv += ["--key", stack.api_key, "-c", str(concurrency), "-d", str(duration), "--warmup", str(warmup)]
    argv += ["--label", target, "--client", client, *(["--stream"] if stream else [])]
    pids = {"gateway": stack.gateway_pid, "fake": stack.fake_pid, "zero": stack.zero_pid, "split": stack.split_pid}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, check=False, timeout=duration + warmup + LOADGEN_GRACE_S)
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    if done.stderr:
        sys.stderr.write(done.stderr.decode())
    row: dict[str, object] = json.loads(done.stdout)
    # CPU over warm-up and measurement, divided by measured requests: a slight over-estimate.
    requests = max(1, int(str(row["requests"])) + int(str(row["errors"])))
    for name in pids:
        row[f"{name}_cpu_ms_per_req"] = (after[name] - before[name]) * 1000 / requests
    return row


def markdown_row(row: dict[str, object]) -> str:
    """A matrix row: the load generator's numbers and the serving process's CPU per request."""
    server_cpu = _number(row, "zero_cpu_ms_per_req" if row["label"] == "zero-work" else "gateway_cpu_ms_per_req")
    if row["label"] == "http-split":
        server_cpu += _number(row, "split_cpu_ms_per_req")
    ttft = "-" if row["ttft_p50_ms"] is None else f"{row['ttft_p50_ms']:.2f} / {row['ttft_p99_ms']:.2f}"
    return (
        f"| {row['label']} | {'stream' if row['stream'] else 'unary'} | {row['concurrency']} | {row['requests']} "
        f"| {row['errors']} | {row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {ttft} "
        f"| {server_cpu:.3f} | {row['fake_cpu_ms_per_req']:.3f} | {row['client_cpu_ms_per_req']:.3f} |"
    )


MATRIX_HEADER = (
    "| target | mode | conc | requests | errors | req/s | p50 ms | p99 ms | TTFT p50 / p99 ms "
    "| server CPU ms/req (gateway [+ bridge]) | fake Bedrock CPU ms/req | client CPU ms/req |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _number(row: dict[str, object], name: str) -> float:
    return float(str(row[name]))


def comparisons(rows: list[dict[str, object]]) -> list[str]:
    """The two targets of issue 3, as differences and ratios between runs of the same matrix."""
    by_key = {(row["label"], row["stream"], row["concurrency"]): row for row in rows}
    lines = []
    for http in ("http-bridge", "http-split"):
        for stream in (False, True):
            mode = "stream" if stream else "unary"
            grpc_1, http_1 = by_key.get(("grpc", stream, 1)), by_key.get((http, stream, 1))
            if grpc_1 and http_1:
                added = _number(http_1, "p50_ms") - _number(grpc_1, "p50_ms")
                verdict = "met" if added <= 1.0 else "NOT met"
                lines.append(f"- {http}, {mode}, c=1: adds {added:.2f} ms p50 over gRPC (target <= 1 ms: {verdict})")
            grpc_64, http_64 = by_key.get(("grpc", stream, 64)), by_key.get((http, stream, 64))
            if grpc_64 and http_64:
                ratio = _number(http_64, "rps") / _number(grpc_64, "rps")
                verdict = "met" if ratio >= 0.70 else "NOT met"
                lines.append(f"- {http}, {mode}, c=64: keeps {ratio:.0%} of gRPC's req/s (target >= 70%: {verdict})")
    return lines


def compare_clients(stack: Stack, duration: float, warmup: float) -> None:
    """The load generator's own cost with each HTTP client, against the zero-work server at concurrency 16."""
    print("| client | mode | req/s | p50 ms | p99 ms | client CPU ms/req |\n|---|---|---|---|---|---|")
    for stream in (False, True):
        for client in ("raw", "httpx"):
            row = run_one(stack, "zero-work", stream, 16, duration, warmup, client)
            print(
                f"| {client} | {'stream' if stream else 'unary'} | {row['rps']:.0f} | {row['p50_ms']:.2f} "
                f"| {row['p99_ms']:.2f} | {row['client_cpu_ms_per_req']:.3f} |",
                flush=True,
            )
    print()


def profile_gateway(stack: Stack, seconds: float, out_dir: Path, target: str = "http-bridge") -> None:
    """Sample the gateway with py-spy under load on one target (unary, then streaming) and summarise."""
    py_spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    for stream in (False, True):
        name = "stream" if stream else "unary"
        stacks = out_dir / f"gateway-{target}-{name}.txt"
        sampler = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(stack.gateway_pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "250",
                "--gil",
                "--format",
                "raw",
                "--output",
                str(stacks),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            row = run_one(stack, target, stream, 16, seconds, 0.5)
        finally:
            sampler.wait(timeout=seconds + LOADGEN_GRACE_S)
        print(f"\n### Gateway profile, {target} {name}, concurrency 16 ({row['rps']:.0f} req/s)\n")
        print(summarise_file(stacks))


def main(argv: list[str] | None = None) -> int:
    """Run the matrix (and the profile if asked), print the table and the verdicts."""
    parser = argparse.ArgumentParser(prog="python -m bench.run_bridge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="discarded seconds per run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--tokens", type=int, default=24, help="words per answer, fake Bedrock and zero-work")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON lines here")
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS, help="default: all")
    parser.add_argument("--skip-matrix", action="store_true", help="only profile or compare clients")
    parser.add_argument(
        "--compare-clients", action="store_true", help="first run the zero-work server with each HTTP client"
    )
    parser.add_argument("--profile", type=float, default=0.0, help="py-spy the gateway for this many seconds")
    parser.add_argument("--profile-out", type=Path, default=Path(tempfile.gettempdir()) / "llmgw-profile")
    parser.add_argument(
        "--profile-targets", nargs="+", default=["http-bridge"], choices=["grpc", "http-bridge"], help="what to load"
    )
    args = parser.parse_args(argv)
    work_dir = Path(tempfile.mkdtemp(prefix="llmgw-bench-"))
    rows: list[dict[str, object]] = []
    with ProcessGroup(work_dir) as group:
        stack = start_stack(group, work_dir, args.tokens)
        print(f"servers started; logs in {work_dir}", file=sys.stderr)
        if args.compare_clients:
            compare_clients(stack, args.duration, args.warmup)
        if not args.skip_matrix:
            print(MATRIX_HEADER)
            for stream in (False, True):
                for concurrency in args.concurrency:
                    for target in args.targets:
                        row = run_one(stack, target, stream, concurrency, args.duration, args.warmup)
                        rows.append(row)
                        print(markdown_row(row), flush=True)
            print()
            print("\n".join(comparisons(rows)))
        if args.profile > 0:
            for target in args.profile_targets:
                profile_gateway(stack, args.profile, args.profile_out, target)
    if args.out is not None:
        args.out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
