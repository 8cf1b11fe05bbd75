"""The soak benchmark (issue 15): two replicas on PostgreSQL behind HAProxy, a mixed load, one SIGKILL.

What runs, each in its own process on free 127.0.0.1 ports: the fake Bedrock, two `llmgw serve`
replicas sharing one PostgreSQL schema (made for the run, dropped after) and one server
secret, and HAProxy (Debian's package, installed with apt-get when missing) balancing HTTP
over them with a `/healthz` check. The load: `--concurrency` workers for `--duration` seconds,
each request one of unary chat (50%), stream (25%), abandoned stream (10%, read one chunk and
hang up) or embeddings (15%), with `--fault-rate` of them carrying a fake-Bedrock fault marker.
Halfway, replica A is SIGKILLed and restarted.

Then it reports:
- client outcomes by class (HTTP status and error code, or the transport error);
- rows lost: answers the clients received in full whose request id has no row (must be 0);
- ledger spend minus the sum of the rows' costs (must be 0);
- open reservations once a lease has passed after the load (must be 0);
- the RSS slope of each replica (MiB per minute, least squares over samples every 5 s).

    python -m bench.soak --duration 600 --concurrency 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx2 as httpx
import peewee

from bench.processes import free_port, wait_for_port

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
TITAN = "amazon.titan-embed-text-v2:0"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
LEASE_S = 10.0
USERS = 20
FAULTS = ("throttle", "internal", "unavailable", "validation", "mid_stream")
LLMGW = [sys.executable, "-m", "llmgw"]


@dataclass
class Tally:
    """What the clients saw."""

    outcomes: Counter[str] = field(default_factory=Counter)
    delivered: set[str] = field(default_factory=set)


def _run_sql(url: str, statement: str) -> list[tuple[object, ...]]:
    db = peewee.PostgresqlDatabase(url)
    try:
        cursor = db.execute_sql(statement)  # type: ignore[no-untyped-call]  # unannotated in the stub
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
    finally:
        db.close()


def _haproxy() -> str:
    """The haproxy binary, installed from Debian's packages when missing."""
    found = shutil.which("haproxy")
    if found is None:
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)  # noqa: S607
        subprocess.run(["apt-get", "install", "-y", "-q", "haproxy"], check=True, capture_output=True)  # noqa: S607
        found = shutil.which("haproxy")
    if found is None:
        raise RuntimeError("haproxy is not installed and apt-get could not install it")
    return found


def _haproxy_config(front: int, backends: list[int]) -> str:
    servers = "\n".join(
        f"    server r{i} 127.0.0.1:{port} check inter 1s fall 2 rise 1" for i, port in enumerate(backends)
    )
    return f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    option redispatch
    retries 2
frontend gateway
    bind 127.0.0.1:{front}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /healthz
{servers}
"""


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) samples, in MiB per minute."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return 60 * cov / var if var else 0.0


async def _one(client: httpx.AsyncClient, key: str, rng: random.Random, tally: Tally, fault_rate: float) -> None:
    kind = rng.choices(["unary", "stream", "abandon", "embed"], weights=[50, 25, 10, 15])[0]
    marker = f"[[fault:{rng.choice(FAULTS)}]] " if rng.random() < fault_rate else ""
    headers = {"Authorization": f"Bearer {key}"}
    prompt = f"{marker}[[tokens:{rng.randint(5, 60)}]] [[token_delay_ms:5]] tell me about {rng.random()}"
    try:
        if kind == "embed":
            reply = await client.post("/v1/embeddings", json={"model": TITAN, "input": [prompt]}, headers=headers)
            tally.outcomes[f"embeddings {reply.status_code}"] += 1
            return
        body = {"model": HAIKU, "max_tokens": 100, "messages": [{"role": "user", "content": prompt}]}
        if kind == "unary":
            reply = await client.post("/v1/chat/completions", json=body, headers=headers)
            tally.outcomes[f"unary {reply.status_code}"] += 1
            if reply.status_code == 200:
                tally.delivered.add(reply.json()["id"])
            return
        body |= {"stream": True}
        async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as stream:
            if stream.status_code != 200:
                tally.outcomes[f"{kind} {stream.status_code}"] += 1
                return
            request_id, done, error = "", False, False
            async for line in stream.aiter_lines():
                if line.startswith('data: {"id":') and not request_id:
                    request_id = line.split('"id":"', 1)[1].split('"', 1)[0]
                if kind == "abandon" and request_id:
                    break
                error = error or line.startswith('data: {"error"')
                done = done or line == "data: [DONE]"
            label = "abandoned" if kind == "abandon" else ("error event" if error else "200" if done else "cut")
            tally.outcomes[f"{kind} {label}"] += 1
            if done and request_id:
                tally.delivered.add(request_id)
    except httpx.HTTPError as exc:
        tally.outcomes[f"{kind} {type(exc).__name__}"] += 1


async def _load(url: str, keys: list[str], args: argparse.Namespace, tally: Tally, kill: asyncio.Event) -> None:
    deadline = time.monotonic() + args.duration
    halfway = time.monotonic() + args.duration / 2

    async def worker(number: int) -> None:
        rng = random.Random(number)
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while time.monotonic() < deadline:
                await _one(client, keys[number % len(keys)], rng, tally, args.fault_rate)
                if time.monotonic() > halfway and not kill.is_set():
                    kill.set()

    await asyncio.gather(*(worker(n) for n in range(args.concurrency)))


def _serve(env: dict[str, str], http: int, grpc: int, log: Path) -> subprocess.Popen[bytes]:
    env = env | {"LLMGW_HTTP_LISTEN": f"127.0.0.1:{http}", "LLMGW_GRPC_LISTEN": f"127.0.0.1:{grpc}"}
    with log.open("ab") as out:
        process = subprocess.Popen([*LLMGW, "serve"], env=env, stdout=out, stderr=out)
    wait_for_port(http, process)
    return process


async def _sample_rss(
    replicas: dict[str, subprocess.Popen[bytes]], samples: dict[str, list[tuple[float, float]]]
) -> None:
    start = time.monotonic()
    while True:
        for name, process in replicas.items():
            rss = _rss_mib(process.pid)
            if rss is not None:
                samples.setdefault(f"{name} (pid {process.pid})", []).append((time.monotonic() - start, rss))
        await asyncio.sleep(5)


@dataclass
class Setup:
    """The running processes of one soak."""

    env: dict[str, str]
    work: Path
    keys: list[str]
    ports: dict[str, tuple[int, int]]
    replicas: dict[str, subprocess.Popen[bytes]]
    front: int
    processes: list[subprocess.Popen[bytes]]


def _start(env: dict[str, str], work: Path, processes: list[subprocess.Popen[bytes]]) -> Setup:
    """The fake Bedrock, keys for USERS users, two replicas and HAProxy in front of them."""
    fake_port = free_port()
    fake = subprocess.Popen(
        [*LLMGW, "fake-bedrock", "--port", str(fake_port)],
        stdout=(work / "fake.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    processes.append(fake)
    wait_for_port(fake_port, fake)
    env["LLMGW_BEDROCK_ENDPOINT_URL"] = f"http://127.0.0.1:{fake_port}"
    keys = [
        subprocess.run(
            [*LLMGW, "keys", "create", "--user", f"user{n}", "--name", "soak"],
            env=env | {"LLMGW_DATA_DIR": str(work / "a")},
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
        for n in range(USERS)
    ]
    ports = {"a": (free_port(), free_port()), "b": (free_port(), free_port())}
    replicas = {
        name: _serve(env | {"LLMGW_DATA_DIR": str(work / name)}, *ports[name], work / f"replica-{name}.log")
        for name in ports
    }
    processes.extend(replicas.values())
    front = free_port()
    (work / "haproxy.cfg").write_text(_haproxy_config(front, [ports["a"][0], ports["b"][0]]))
    haproxy = subprocess.Popen(
        [_haproxy(), "-db", "-f", str(work / "haproxy.cfg")],
        stdout=(work / "haproxy.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    processes.append(haproxy)
    wait_for_port(front, haproxy)
    return Setup(env, work, keys, ports, replicas, front, processes)


def _restart_a(setup: Setup) -> None:
    """SIGKILL replica A, then start it again on the same ports."""
    setup.replicas["a"].send_signal(signal.SIGKILL)
    setup.replicas["a"].wait()
    time.sleep(2)
    env = setup.env | {"LLMGW_DATA_DIR": str(setup.work / "a")}
    setup.replicas["a"] = _serve(env, *setup.ports["a"], setup.work / "replica-a.log")
    setup.processes.append(setup.replicas["a"])


async def _drive(setup: Setup, args: argparse.Namespace) -> tuple[Tally, dict[str, list[tuple[float, float]]]]:
    """The load, the kill halfway, the RSS samples, and a lease's wait after the load."""
    tally, kill = Tally(), asyncio.Event()
    samples: dict[str, list[tuple[float, float]]] = {}
    sampler = asyncio.create_task(_sample_rss(setup.replicas, samples))

    async def killer() -> None:
        await kill.wait()
        await asyncio.to_thread(_restart_a, setup)

    restart = asyncio.create_task(killer())
    await _load(f"http://127.0.0.1:{setup.front}", setup.keys, args, tally, kill)
    await restart
    await asyncio.sleep(LEASE_S * 1.5 + 2)  # a lease and a sweep after the load
    sampler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampler
    return tally, samples


def _report(db_url: str, args: argparse.Namespace, tally: Tally, samples: dict[str, list[tuple[float, float]]]) -> int:
    rows = {str(row[0]) for row in _run_sql(db_url, "SELECT id FROM request_record")}
    [(spent,)] = _run_sql(db_url, "SELECT COALESCE(SUM(spent_picodollars), 0) FROM quota_ledger")
    [(costs,)] = _run_sql(db_url, "SELECT COALESCE(SUM(cost_picodollars), 0) FROM request_record")
    [(open_reservations,)] = _run_sql(db_url, "SELECT COUNT(*) FROM quota_reservation")
    lost = len(tally.delivered - rows)
    difference = int(str(spent)) - int(str(costs))
    print(f"## Soak: {args.duration:.0f} s, {args.concurrency} concurrent, {args.fault_rate:.0%} faults\n")
    print("| client outcome | count |\n|---|---:|")
    for outcome, count in sorted(tally.outcomes.items()):
        print(f"| {outcome} | {count} |")
    print(f"\n- answers delivered in full: {len(tally.delivered)}; rows: {len(rows)}; rows lost: {lost}")
    print(f"- ledger spend minus the sum of the rows: {difference} picodollars")
    print(f"- open reservations a lease after the load: {open_reservations}")
    for name, points in sorted(samples.items()):
        first, last = points[0][1], points[-1][1]
        print(f"- RSS of replica {name}: {first:.0f} -> {last:.0f} MiB, slope {_slope(points):+.2f} MiB/min")
    return 1 if lost or difference or int(str(open_reservations)) else 0


def soak(args: argparse.Namespace) -> int:
    """Run the soak and print its report (markdown); 0 when every must-be-zero number is zero."""
    work = Path(tempfile.mkdtemp(prefix="llmgw-soak-"))
    schema = f"soak_{secrets.token_hex(4)}"
    _run_sql(args.postgres, f"CREATE SCHEMA {schema}")
    db_url = f"{args.postgres}?options={quote(f'-csearch_path={schema}')}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGW_")} | {
        "LLMGW_DATABASE_URL": db_url,
        "LLMGW_SERVER_SECRET": secrets.token_hex(32),
        "LLMGW_BENCHMARK_MODE": "true",
        "LLMGW_BEDROCK_MAX_ATTEMPTS": "2",
        "LLMGW_RESERVATION_LEASE_SECONDS": str(LEASE_S),
        "LLMGW_LOG_FORMAT": "text",
        "LLMGW_DEFAULT_QUOTA_DOLLARS": "1000",
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        setup = _start(env, work, processes)
        tally, samples = asyncio.run(_drive(setup, args))
        status = _report(db_url, args, tally, samples)
        print(f"\nLogs in {work}")
        return status
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        _run_sql(args.postgres, f"DROP SCHEMA {schema} CASCADE")


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run the soak."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    parser.add_argument("--concurrency", type=int, default=100, help="concurrent clients (default 100)")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="share of requests with a fault (0.05)")
    parser.add_argument("--postgres", default=POSTGRES, help=f"PostgreSQL server (default {POSTGRES})")
    return soak(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
