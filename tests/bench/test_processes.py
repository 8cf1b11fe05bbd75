from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from bench.processes import ProcessGroup, cpu_seconds, free_port, wait_for_port


def test_free_port_can_be_bound() -> None:
    """The port free_port() names can be bound right after."""
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_cpu_seconds_of_this_process_is_positive() -> None:
    """The CPU time read from /proc for the test process itself."""
    assert cpu_seconds(os.getpid()) > 0


def test_group_waits_for_a_listener_and_stops_it(tmp_path: Path) -> None:
    """A started server is awaited on its port, its output logged, and stopped on exit."""
    port = free_port()
    script = (
        "import socket, time\n"
        f"s = socket.create_server(('127.0.0.1', {port}))\n"
        "print('listening', flush=True)\n"
        "time.sleep(60)\n"
    )
    with ProcessGroup(tmp_path) as group:
        process = group.start("listener", [sys.executable, "-c", script])
        wait_for_port(port, process, timeout_s=10)
    assert process.returncode is not None
    assert (tmp_path / "listener.log").read_text() == "listening\n"
