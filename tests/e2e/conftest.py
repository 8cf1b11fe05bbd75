"""A real `llmgw serve` and `llmgw fake-bedrock` in subprocesses, on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_TIMEOUT_S = 30.0
LLMGW = [sys.executable, "-m", "llmgw"]


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, process: subprocess.Popen[bytes]) -> None:
    """Poll `url` until it answers 200, failing early if the process died (bounded)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback URL we built
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {STARTUP_TIMEOUT_S} s")


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM the process and wait (bounded) for its exit status; kill it if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=STARTUP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    return int(process.returncode)


@dataclass
class ServedGateway:
    """A running `llmgw serve` with its environment, for tests that call it or its CLI."""

    env: dict[str, str]
    http_url: str
    grpc_target: str
    process: subprocess.Popen[bytes]

    def create_key(self, user: str, name: str, *extra: str) -> str:
        """Create a key through `llmgw keys create` and return what it printed on stdout."""
        done = subprocess.run(  # noqa: S603 - our own command
            [*LLMGW, "keys", "create", "--user", user, "--name", name, *extra],
            env=self.env,
            capture_output=True,
            check=True,
            timeout=STARTUP_TIMEOUT_S,
        )
        return done.stdout.decode().strip()


def gateway_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a gateway subprocess: LLMGW_ settings on top of ours, minus inherited LLMGW_ ones."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LLMGW_")}
    env.update({f"LLMGW_{name.upper()}": value for name, value in settings.items()})
    env["LLMGW_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture(scope="module")
def fake_bedrock_process() -> Iterator[str]:
    """`llmgw fake-bedrock` on a free port; yields its URL."""
    port = free_port()
    process = subprocess.Popen([*LLMGW, "fake-bedrock", "--port", str(port)])  # noqa: S603 - our own command
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the fake Bedrock did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def served_gateway(fake_bedrock_process: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    """`llmgw serve` (gRPC and HTTP) against the fake Bedrock, with SQLite in a temp dir."""
    http_port, grpc_port = free_port(), free_port()
    env = gateway_env(
        tmp_path_factory.mktemp("served"),
        benchmark_mode="true",
        bedrock_endpoint_url=fake_bedrock_process,
        bedrock_max_attempts="1",
        http_listen=f"127.0.0.1:{http_port}",
        grpc_listen=f"127.0.0.1:{grpc_port}",
        admin_list="root",
        shutdown_grace_seconds="2",
        # One process: these tests change keys and policies and expect the next request to see it,
        # while each worker caches them for KEY_CACHE_SECONDS (test_workers.py covers workers).
        workers="1",
    )
    process = subprocess.Popen([*LLMGW, "serve"], env=env)  # noqa: S603 - our own command
    served = ServedGateway(env, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", process)
    try:
        wait_for_http(f"{served.http_url}/healthz", process)
        yield served
    finally:
        assert stop(process) == 0
