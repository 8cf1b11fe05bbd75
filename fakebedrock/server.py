"""Running the fake: in a background thread for tests and the demo, or in the foreground for the CLI."""

import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from llmgw.fakebedrock.app import FakeBedrockApp
from llmgw.fakebedrock.config import FakeBedrockConfig

# Seconds `start()` waits for the listening socket, and in-flight requests get on `stop()`.
_START_TIMEOUT_S = 10.0
_GRACE_S = 1


def _uvicorn_config(app: FakeBedrockApp, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=_GRACE_S,
    )


class FakeBedrockServer:
    """A fake Bedrock listening on a real port, served by uvicorn on a background thread.

    Usage: `with FakeBedrockServer() as fake: boto3.client("bedrock-runtime", endpoint_url=fake.url, ...)`.
    Port 0 (the default) picks a free port; `app.stats` counts what arrived. `send_buffer_bytes`
    fixes each connection's kernel send buffer (SO_SNDBUF, which Linux otherwise grows to
    megabytes), so a test can tell what its reader took from what the fake's kernel holds.
    """

    def __init__(
        self,
        config: FakeBedrockConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        send_buffer_bytes: int | None = None,
    ) -> None:
        self.app = FakeBedrockApp(config)
        self._server = uvicorn.Server(_uvicorn_config(self.app, host, port, log_level="warning"))
        self._thread: threading.Thread | None = None
        self._host = host
        self._port: int | None = None
        self._listen_port = port
        self._send_buffer_bytes = send_buffer_bytes

    @property
    def url(self) -> str:
        """The endpoint URL to give boto3, e.g. http://127.0.0.1:54321."""
        if self._port is None:
            raise RuntimeError("the fake Bedrock is not running")
        return f"http://{self._host}:{self._port}"

    def start(self) -> None:
        """Serve in a background thread; returns once the port is listening."""
        if self._thread is not None:
            raise RuntimeError("the fake Bedrock is already running")
        sockets = None if self._send_buffer_bytes is None else [self._listener(self._send_buffer_bytes)]
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": sockets}, name="fake-bedrock", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fake Bedrock failed to start")
            time.sleep(0.01)
        self._port = self._server.servers[0].sockets[0].getsockname()[1]

    def _listener(self, send_buffer_bytes: int) -> socket.socket:
        """A listening socket whose accepted connections inherit its send buffer size."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
        listener.bind((self._host, self._listen_port))
        listener.listen(128)
        return listener

    def stop(self) -> None:
        """Stop serving and wait for the thread (in-flight requests get a short grace period)."""
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=_START_TIMEOUT_S + _GRACE_S)
        self._thread = None
        self._port = None

    def __enter__(self) -> "FakeBedrockServer":
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def serve_forever(config: FakeBedrockConfig, host: str, port: int, control_plane: Path | None = None) -> None:
    """Serve in the foreground until interrupted (SIGINT / SIGTERM), as `llmgw fake-bedrock` does.

    `control_plane` names a JSON file of the control-plane lists to serve (control_plane.py).
    """
    app = FakeBedrockApp(config)
    if control_plane is not None:
        app.control_plane.load(control_plane)
    uvicorn.Server(_uvicorn_config(app, host, port, log_level="info")).run()
