"""`llmgw serve`: the gRPC server and the HTTP bridge in one process, from start to a clean exit.

What runs: the Gateway (unless HTTP-only), the bridge (unless gRPC-only; with the Gateway in
the same process it calls the servicers in-process, through the same pipeline), TLS on
both when TLS_CERT_FILE and TLS_KEY_FILE are set, the gateway's metrics at the
bridge's `GET /metrics` (and on METRICS_LISTEN), OpenTelemetry traces when the
OTEL_* variables ask for them.

Shutdown, on SIGTERM or SIGINT: both listeners stop accepting at once; in-flight
gRPC calls and HTTP requests get SHUTDOWN_GRACE_SECONDS to finish; calls still
running then end with UNAVAILABLE "the gateway is shutting down" (an SSE stream
gets that as its error event), their usage recorded as cancelled; the request log
is flushed; the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import resource
import signal

import grpc
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from llmgw.bridge.app import create_app, serve_http
from llmgw.bridge.http_limits import HttpLimits
from llmgw.bridge.request_body import JsonLimits
from llmgw.server.app import CANCEL_MARGIN_S, Gateway
from llmgw.server.rpc.tracing import tracing_from_environ
from llmgw.server.settings import Settings
from llmgw.workers import worker_index

logger = logging.getLogger("llmgw")
ORPHAN_CHECK_S = 1.0
GC_GENERATION0_THRESHOLD = 10_000


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """How an HTTP-only bridge reaches gRPC: TLS trusting TLS_CA_FILE when that is set, else plain text.

    (A bridge in the gateway's own process needs none: it calls the servicers in-process.)
    """
    if settings.tls_ca_file is not None:
        return grpc.ssl_channel_credentials(root_certificates=settings.tls_ca_file.read_bytes())
    return None


async def _stop_when_orphaned(stop: asyncio.Event) -> None:
    """A worker whose supervisor is gone (killed outright) drains and exits instead of serving on alone."""
    supervisor = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(ORPHAN_CHECK_S)
        if os.getppid() != supervisor:
            logger.warning("the supervisor (pid %d) is gone; shutting down", supervisor)
            stop.set()


def settle_garbage_collector() -> None:
    """Freeze what start-up built (catalog, protobuf classes, routes) and collect young objects less often.

    Each request allocates many short-lived objects; with the default generation-0 threshold
    (700) the collector ran often enough to be 6% of a worker's samples under 256 streams,
    mostly rescanning long-lived start-up objects (bench/RESULTS.md, issue 9).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GENERATION0_THRESHOLD, *gc.get_threshold()[1:])


def raise_open_files_limit() -> None:
    """Raise the soft limit on open files to the hard limit: each stream holds two sockets (client, Bedrock)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def json_limits(settings: Settings) -> JsonLimits:
    """The bridge's request-parsing caps from the settings."""
    return JsonLimits(
        max_body_bytes=settings.max_body_bytes,
        max_depth=settings.max_json_depth,
        max_string_chars=settings.max_json_string_chars,
        max_messages=settings.max_chat_messages,
    )


def http_limits(settings: Settings) -> HttpLimits:
    """The HTTP port's connection limits from the settings."""
    return HttpLimits(
        header_timeout_s=settings.http_header_timeout_seconds,
        body_timeout_s=settings.http_body_timeout_seconds,
        keepalive_s=settings.http_keepalive_seconds,
        max_header_bytes=settings.http_max_header_bytes,
        max_connections=settings.http_max_connections,
    )


def _process_metrics() -> tuple[bytes, str]:
    """The process's own metrics (for an HTTP-only bridge, which has no gateway registry)."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


async def serve(
    settings: Settings, *, grpc_server: bool, http: bool, grpc_target: str | None, stop: asyncio.Event | None = None
) -> None:
    """Serve until `stop` is set (by default: until SIGTERM or SIGINT), then shut down as the module says."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if stop is None else ()
    stop = stop or asyncio.Event()
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    worker = worker_index()
    raise_open_files_limit()
    gateway = (
        Gateway(settings, tracing=tracing_from_environ(os.environ), metrics_listener=not worker)
        if grpc_server
        else None
    )
    tasks: list[asyncio.Task[None]] = []
    if worker is not None:
        tasks.append(asyncio.create_task(_stop_when_orphaned(stop)))
    grace = settings.shutdown_grace_seconds
    try:
        if gateway is not None:
            port = await gateway.start()
            settle_garbage_collector()
            grpc_target = f"{settings.grpc_listen.host}:{port}"
        if http and grpc_target is not None:
            app = create_app(
                grpc_target,
                max_body_bytes=settings.max_body_bytes,
                channel_credentials=channel_credentials(settings) if gateway is None else None,
                metrics=gateway.metrics.render if gateway is not None else _process_metrics,
                channel=None if gateway is None else gateway.in_process_channel(),
                json_limits=json_limits(settings),
                drop_unsupported_params=settings.drop_unsupported_params,
            )
            host = settings.http_listen.host
            scheme = "https" if settings.tls_cert_file is not None else "http"
            server = serve_http(
                app,
                host,
                settings.http_listen.port,
                on_bound=lambda port: logger.info("HTTP bridge listening on %s://%s:%d", scheme, host, port),
                ssl_certfile=settings.tls_cert_file,
                ssl_keyfile=settings.tls_key_file,
                graceful_shutdown_seconds=grace + CANCEL_MARGIN_S + 1,
                reuse_port=worker is not None,
                limits=http_limits(settings),
            )
            tasks.append(asyncio.create_task(server))
        await stop.wait()
        logger.info("shutting down: in-flight requests get %.1f s", grace)
    finally:
        for task in tasks:
            task.cancel()
        # Concurrently: the bridge's open requests end when the gateway ends their calls.
        await asyncio.gather(*tasks, *([] if gateway is None else [gateway.stop()]), return_exceptions=True)
        for signum in signals:
            loop.remove_signal_handler(signum)
        logger.info("stopped")
