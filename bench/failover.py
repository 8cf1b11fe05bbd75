"""The failover benchmark: two regions, one throttling a share of calls, many concurrent streams.

Starts, each in its own process on a free 127.0.0.1 port: two `llmgw fake-bedrock` (east and
west, the same time to first token and pace), and `llmgw --config <routes> serve --workers 1`
(`--workers N` to change it) with one route, Claude 3 Haiku on east then west. Two scenarios
run one after the other on fresh processes: `healthy` (no faults) and `east throttles P%`
(`--fault throttle:P%` on east, so P of every 100 calls there are throttled and fail over
to west). Each is one `bench.loadgen`
run of streams over HTTP (the OpenAI shape, through the bridge). Then the request log
(SQLite) gives the TTFT of the requests answered on the first attempt and of those that
failed over, so the TTFT failover adds is measured directly, not only through the p50 of
the mix.

    .venv/bin/python -m bench.failover --concurrency 200 --duration 60 --throttle-percent 20
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.loadgen import percentile
from bench.processes import ProcessGroup, cpu_seconds, free_port, wait_for_port

PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
LOADGEN_GRACE_S = 120.0


def _fake(group: ProcessGroup, name: str, port: int, args: argparse.Namespace, fault: str | None) -> None:
    argv = [PY, "-m", "llmgw", "fake-bedrock", "--port", str(port), "--ttft-ms", str(args.ttft_ms)]
    argv += ["--token-delay-ms", str(args.token_delay_ms), "--output-tokens", str(args.tokens)]
    wait_for_port(port, group.start(name, [*argv, *(["--fault", fault] if fault else [])]))


def _config(path: Path, east: int, west: int) -> None:
    path.write_text(
        f"""benchmark_mode = true
aws_region = "us-east-1"
bedrock_endpoint_url = "http://127.0.0.1:{east}"
bedrock_max_attempts = 3
default_quota_dollars = "1000000"
shutdown_grace_seconds = 2

[bedrock.regions.us-west-2]
endpoint_url = "http://127.0.0.1:{west}"

[[routes]]
model = "{MODEL}"
targets = [
  {{ region = "us-east-1", model = "{MODEL}" }},
  {{ region = "us-west-2", model = "us.{MODEL}" }},
]
""",
        encoding="utf-8",
    )


def run_scenario(label: str, fault: str | None, args: argparse.Namespace, work_dir: Path) -> dict[str, object]:
    """Fresh processes, one load-generator run, the request log's TTFT by attempts."""
    work = work_dir / label.replace(" ", "-").replace("%", "pct")
    work.mkdir()
    east, west, grpc_port, http_port = (free_port() for _ in range(4))
    env = {key: value for key, value in os.environ.items() if not key.startswith("LLMGW_")}
    env.update({"LLMGW_DATA_DIR": str(work / "data"), "LLMGW_DATABASE_URL": ""})
    env.update({"LLMGW_GRPC_LISTEN": f"127.0.0.1:{grpc_port}", "LLMGW_HTTP_LISTEN": f"127.0.0.1:{http_port}"})
    config = work / "gateway.toml"
    _config(config, east, west)
    with ProcessGroup(work) as group:
        _fake(group, "east", east, args, fault)
        _fake(group, "west", west, args, None)
        llmgw = [PY, "-m", "llmgw", "--config", str(config)]
        created = subprocess.run(
            [*llmgw, "keys", "create", "--user", "bench", "--name", "bench"],
            env=env,
            capture_output=True,
            check=True,
            timeout=60,
        )
        gateway = group.start("gateway", [*llmgw, "serve", "--workers", str(args.workers)], env=env)
        wait_for_port(http_port, gateway)
        argv = [PY, "-m", "bench.loadgen", "--target", "http", "--address", f"127.0.0.1:{http_port}", "--stream"]
        argv += ["--key", created.stdout.decode().strip(), "-c", str(args.concurrency), "-d", str(args.duration)]
        argv += ["--warmup", str(args.warmup), "--model", MODEL, "--label", label]
        before = cpu_seconds(gateway.pid)
        done = subprocess.run(
            argv, cwd=ROOT, capture_output=True, check=False, timeout=args.duration + args.warmup + LOADGEN_GRACE_S
        )
        gateway_cpu_s = cpu_seconds(gateway.pid) - before
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    row: dict[str, object] = json.loads(done.stdout)
    row["gateway_cpu_s"] = round(gateway_cpu_s, 1)
    row.update(_log_ttft(work / "data" / "llmgw.db"))
    return row


def _log_ttft(database: Path) -> dict[str, object]:
    """p50 TTFT (ms) of the logged successes answered at once and after failing over, and their counts."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT attempts, region, ttft_ms FROM request_record WHERE outcome = 'success' AND ttft_ms IS NOT NULL"
        ).fetchall()
        failed = db.execute("SELECT COUNT(*) FROM request_record WHERE outcome != 'success'").fetchone()[0]
    direct = sorted(float(ttft) for attempts, _, ttft in rows if attempts == 1)
    over = sorted(float(ttft) for attempts, _, ttft in rows if attempts > 1)
    return {
        "logged_failures": failed,
        "first_attempt": len(direct),
        "failed_over": len(over),
        "west_answered": sum(1 for _, region, _ in rows if region == "us-west-2"),
        "ttft_p50_first_attempt_ms": percentile(direct, 0.5) if direct else None,
        "ttft_p50_failed_over_ms": percentile(over, 0.5) if over else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Run both scenarios and print one JSON line each (markdown with --format markdown)."""
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--concurrency", type=int, default=200)
    parser.add_argument("-d", "--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--throttle-percent", type=int, default=20)
    parser.add_argument("--ttft-ms", type=float, default=200.0)
    parser.add_argument("--token-delay-ms", type=float, default=10.0)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--workers", type=int, default=1, help="gateway processes (llmgw serve --workers)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="llmgw-failover-") as temp:
        scenarios = [
            ("healthy", None),
            (f"east throttles {args.throttle_percent}%", f"throttle:{args.throttle_percent}%"),
        ]
        for label, fault in scenarios:
            print(json.dumps(run_scenario(label, fault, args, Path(temp))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
