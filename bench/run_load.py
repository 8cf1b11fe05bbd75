"""Issue 9's benchmark in one command: realistic and slow stream loads, the gateway against the ceiling.

Starts, each on a free 127.0.0.1 port: the fake Bedrock and the zero-work server with the
same timing (first token after TTFT, then one token every DELAY, 16 tokens), and the gateway
(`llmgw serve` with its default WORKERS unless --workers, SQLite, benchmark mode). Then for
each load it runs the load generator (its own process) against the zero-work server, the
gateway's HTTP bridge and the gateway's gRPC API in turn, and prints one markdown row each:
streams/s and its ratio to the ceiling of the same load, TTFT p50/p99, errors, the gateway's
CPU ms per request summed over all its processes (from /proc), and the largest RSS of a
worker. Loads (`--loads`, default all):

- realistic: 256 concurrent streams, TTFT 200 ms, 20 ms/token (ceiling: the zero-work server);
- slow: 1,000 concurrent streams, TTFT 500 ms, 250 ms/token (ceiling: also 1,000 / 4.25 s);
- unary: 64 concurrent unary requests on the realistic timing (CPU per unary request);
- single: one stream at a time, realistic timing (the TTFT the gateway adds).

The realistic and slow loads need separate fake Bedrock timings, so each load restarts the
servers. Run on a quiet machine; it says what else was running (load average) at the start.

Besides the zero-work server, the fake Bedrock itself is a target (`fake-bedrock`: the same
question sent straight to its Converse routes): the "over fake" column is each row's p50 minus
that row's, the latency the gateway adds to the Bedrock it fronts.

    .venv/bin/python -m bench.run_load [--duration 20] [--loads realistic slow unary single] [--workers N]
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
from bench.run_bridge import gateway_env

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TOKENS = 16
LOADGEN_GRACE_S = 120.0


@dataclass(frozen=True, slots=True)
class Load:
    """One load: its timing, its concurrency, streamed or not."""

    name: str
    ttft_ms: int
    token_delay_ms: int
    concurrency: int
    stream: bool = True

    @property
    def stream_seconds(self) -> float:
        """How long one answer takes at the fake's pace."""
        return (self.ttft_ms + self.token_delay_ms * (TOKENS - 1)) / 1000


LOADS = {
    "realistic": Load("realistic", 200, 20, 256),
    "slow": Load("slow", 500, 250, 1000),
    "unary": Load("unary", 200, 20, 64, stream=False),
    "single": Load("single", 200, 20, 1),
}


def children(pid: int) -> list[int]:
    """The direct children of a process (the workers of `llmgw serve --workers N`)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of one process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True, slots=True)
class Stack:
    """The started servers of one load."""

    fake_port: int
    zero_port: int
    grpc_port: int
    http_port: int
    gateway_pid: int
    api_key: str


def start(group: ProcessGroup, work: Path, load: Load, workers: int | None) -> Stack:
    """The fake Bedrock, the zero-work server and the gateway, with this load's timing."""
    fake_port, zero_port, grpc_port, http_port = (free_port() for _ in range(4))
    timing = ["--ttft-ms", str(load.ttft_ms), "--token-delay-ms", str(load.token_delay_ms)]
    fake = group.start(
        "fake", [PY, "-m", "llmgw", "fake-bedrock", "--port", str(fake_port), "--output-tokens", str(TOKENS), *timing]
    )
    zero = group.start(
        "zero", [PY, "-m", "bench.zero_work_server", "--port", str(zero_port), "--tokens", str(TOKENS), *timing]
    )
    env = gateway_env(work / f"data-{load.name}", fake_port, grpc_port, http_port)
    del env["LLMGW_WORKERS"]  # the default (the CPUs available), unless --workers
    if workers is not None:
        env["LLMGW_WORKERS"] = str(workers)
    key = subprocess.run(
        [PY, "-m", "llmgw", "keys", "create", "--user", "bench", "--name", "bench"],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    gateway = group.start("gateway", [PY, "-m", "llmgw", "serve"], env=env)
    for port, process in ((fake_port, fake), (zero_port, zero), (grpc_port, gateway), (http_port, gateway)):
        wait_for_port(port, process)
    return Stack(fake_port, zero_port, grpc_port, http_port, gateway.pid, key.stdout.decode().strip())


def run(stack: Stack, load: Load, target: str, duration: float, warmup: float) -> dict[str, object]:
    """One load-generator run; the row plus the gateway's CPU per request and its workers' RSS."""
    port = {"zero-work": stack.zero_port, "fake-bedrock": stack.fake_port, "http": stack.http_port}.get(
        target, stack.grpc_port
    )
    kind = {"grpc": "grpc", "fake-bedrock": "bedrock"}.get(target, "http")
    argv = [PY, "-m", "bench.loadgen", "--target", kind]
    argv += ["--address", f"127.0.0.1:{port}", "--key", stack.api_key, "-c", str(load.concurrency)]
    argv += ["-d", str(duration), "--warmup", str(warmup), "--label", target, *(["--stream"] if load.stream else [])]
    processes = [stack.gateway_pid, *children(stack.gateway_pid)]
    before = sum(cpu_seconds(pid) for pid in processes)
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, check=False, timeout=duration + warmup + LOADGEN_GRACE_S)
    after = sum(cpu_seconds(pid) for pid in processes)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    row: dict[str, object] = json.loads(done.stdout)
    requests = max(1, int(str(row["requests"])) + int(str(row["errors"])))
    row["gateway_cpu_ms_per_req"] = (after - before) * 1000 / requests
    row["worker_rss_mb"] = max(rss_mb(pid) for pid in processes[1:] or processes)
    row["workers"] = max(1, len(processes) - 1)
    return row


def report(load: Load, rows: list[dict[str, object]]) -> list[str]:
    """Markdown rows for one load, ratios against the zero-work row (and, for streams, the theory)."""
    ceiling = next(float(str(row["rps"])) for row in rows if row["label"] == "zero-work")
    fake_p50 = next((float(str(row["p50_ms"])) for row in rows if row["label"] == "fake-bedrock"), None)
    theory = load.concurrency / load.stream_seconds
    lines = []
    for row in rows:
        rps = float(str(row["rps"]))
        ttft = "-" if row["ttft_p50_ms"] is None else f"{row['ttft_p50_ms']:.0f} / {row['ttft_p99_ms']:.0f}"
        gateway = row["label"] in ("http", "grpc")
        over = f"{float(str(row['p50_ms'])) - fake_p50:+.1f}" if gateway and fake_p50 is not None else "-"
        cpu = f"{float(str(row['gateway_cpu_ms_per_req'])):.2f}" if gateway else "-"
        rss = f"{float(str(row['worker_rss_mb'])):.0f} ({row['workers']})" if gateway else "-"
        lines.append(
            f"| {load.name} | {row['label']} | {load.concurrency} | {row['requests']} | {row['errors']} "
            f"| {rps:.1f} | {rps / ceiling:.0%} | {rps / theory:.0%} | {row['p50_ms']:.1f} | {over} | {ttft} "
            f"| {cpu} | {rss} |"
        )
    return lines


HEADER = (
    "| load | target | conc | requests | errors | req/s | of zero-work | of theory | p50 ms | over fake ms "
    "| TTFT p50 / p99 ms | gateway CPU ms/req (all workers) | max RSS MB per worker (workers) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    """Run the loads and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.run_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=5.0, help="discarded seconds per run")
    parser.add_argument("--loads", nargs="+", default=list(LOADS), choices=list(LOADS))
    parser.add_argument("--targets", nargs="+", default=["zero-work", "fake-bedrock", "http", "grpc"])
    parser.add_argument("--workers", type=int, default=None, help="gateway WORKERS (default: the gateway's default)")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON lines here")
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}; CPUs: {os.cpu_count()}", file=sys.stderr)
    print(HEADER, flush=True)
    all_rows: list[dict[str, object]] = []
    for name in args.loads:
        load = LOADS[name]
        work = Path(tempfile.mkdtemp(prefix="llmgw-load-"))
        with ProcessGroup(work) as group:
            stack = start(group, work, load, args.workers)
            rows = [run(stack, load, target, args.duration, args.warmup) for target in args.targets]
        shutil.rmtree(work, ignore_errors=True)
        for row in rows:
            row["load"] = name
        all_rows += rows
        print("\n".join(report(load, rows)), flush=True)
    if args.out is not None:
        args.out.write_text("".join(json.dumps(row) + "\n" for row in all_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
