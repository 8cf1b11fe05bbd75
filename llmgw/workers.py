"""`llmgw serve --workers N`: N full gateway processes sharing the HTTP and gRPC ports.

Why processes: one Python process uses one core (the GIL), so a gateway uses a machine
only with one process per core. Each worker is a complete `llmgw serve` (gRPC server,
bridge, Bedrock pool, request-log writer) on the same ports, bound with SO_REUSEPORT so
the kernel spreads connections over the workers; they share the database, so quotas and
rate limits hold across them as they do across replicas. This process only supervises:

- it reserves a port for each address given with port 0, so all workers bind the same one;
- it turns on prometheus_client's multiprocess mode (a fresh PROMETHEUS_MULTIPROC_DIR unless
  one is set), so any worker's `/metrics` counts the requests every worker served;
- SIGTERM or SIGINT is passed to every worker, each drains as `llmgw serve` does
  (llmgw/serving.py), and the supervisor exits 0 once all have exited 0;
- a worker that dies on its own stops the others, and the supervisor exits 1.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from prometheus_client import multiprocess

from llmgw.server.rpc.metrics import MULTIPROCESS_DIR_ENV
from llmgw.server.settings import ENV_PREFIX, ListenAddress, Settings

logger = logging.getLogger("llmgw")

# The worker's index (0..N-1), set in each worker's environment; `llmgw serve` reads it.
WORKER_INDEX_ENV = "LLMGW_WORKER_INDEX"
STOP_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.2


def worker_index(environ: Mapping[str, str] | None = None) -> int | None:
    """The index of this process among `llmgw serve --workers N`'s workers; None when it is not one."""
    text = (os.environ if environ is None else environ).get(WORKER_INDEX_ENV, "")
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def _reserved(address: ListenAddress) -> Iterator[ListenAddress]:
    """The address with a concrete port: port 0 becomes a port held (bound, not listening) until exit."""
    if address.port != 0:
        yield address
        return
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((address.host, 0))
        yield ListenAddress(address.host, int(holder.getsockname()[1]))


class _Supervisor:
    """The running workers, and the signal handling that drains them."""

    def __init__(self, metrics_dir: str) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.metrics_dir = metrics_dir
        self.stopping = False

    def stop(self, signum: int = signal.SIGTERM, _frame: types.FrameType | None = None) -> None:
        """Ask every worker still running to drain and exit."""
        self.stopping = True
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM if signum == signal.SIGINT else signum)

    def wait(self) -> int:
        """Wait for every worker; 0 if all exited 0 after a stop, else 1."""
        status = 0
        running = list(self.processes)
        while running:
            time.sleep(POLL_INTERVAL_S)  # a signal runs stop() at once; the loop then sees the exits
            for process in [process for process in running if process.poll() is not None]:
                running.remove(process)
                multiprocess.mark_process_dead(process.pid, self.metrics_dir)  # type: ignore[no-untyped-call]
                if process.returncode != 0 or not self.stopping:
                    logger.error("worker %d exited with status %d", process.pid, process.returncode)
                    status = 1
                    self.stop()
        return status


def run_workers(settings: Settings, count: int, argv: Sequence[str], extra_env: Mapping[str, str] | None = None) -> int:
    """Run `count` workers of `python -m llmgw <argv>` until SIGTERM/SIGINT; their combined exit status.

    `argv` is the worker's command line (`serve` and its mode flags); `extra_env` adds settings
    (as LLMGW_* variables) on top of this process's environment.
    """
    own_dir = not os.environ.get(MULTIPROCESS_DIR_ENV)
    metrics_dir = tempfile.mkdtemp(prefix="llmgw-metrics-") if own_dir else os.environ[MULTIPROCESS_DIR_ENV]
    supervisor = _Supervisor(metrics_dir)
    previous = {signum: signal.signal(signum, supervisor.stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        with _reserved(settings.grpc_listen) as grpc_listen, _reserved(settings.http_listen) as http_listen:
            env = {
                **os.environ,
                **(extra_env or {}),
                f"{ENV_PREFIX}GRPC_LISTEN": str(grpc_listen),
                f"{ENV_PREFIX}HTTP_LISTEN": str(http_listen),
                f"{ENV_PREFIX}WORKERS": "1",
                MULTIPROCESS_DIR_ENV: metrics_dir,
            }
            for index in range(count):
                supervisor.processes.append(
                    subprocess.Popen(  # noqa: S603 - our own command
                        [sys.executable, "-m", "llmgw", *argv], env={**env, WORKER_INDEX_ENV: str(index)}
                    )
                )
            logger.info(
                "started %d workers (pids %s); gRPC on %s, HTTP on %s",
                count,
                ", ".join(str(process.pid) for process in supervisor.processes),
                grpc_listen,
                http_listen,
            )
            return supervisor.wait()
    finally:
        supervisor.stop()
        for process in supervisor.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT_S)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if own_dir:
            shutil.rmtree(Path(metrics_dir), ignore_errors=True)
