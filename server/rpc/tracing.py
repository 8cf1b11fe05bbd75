"""OpenTelemetry traces of the gRPC server, on only when the standard OTEL_* variables ask for them.

Tracing starts when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
or OTEL_TRACES_EXPORTER is set: `otlp` (the default, over gRPC), `console`, or `none`.
The SDK reads the rest of the standard variables itself (OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS, ...). The tracer provider is
the gateway's own, not the process-global one, and is flushed and shut down with it.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from llmgw.server.settings import SettingsError

DEFAULT_SERVICE_NAME = "llmgw"
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class TracingError(SettingsError):
    """The OTEL_* variables ask for something this gateway cannot do; the message says what."""


class Tracing:
    """A tracer provider and the gRPC server interceptor that records a span per call."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider

    def interceptor(self) -> grpc.aio.ServerInterceptor:
        """The interceptor that opens a server span for every call."""
        interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]  # untyped upstream
            tracer_provider=self.provider
        )
        return interceptor

    def shutdown(self) -> None:
        """Export what is buffered and stop the exporters."""
        self.provider.shutdown()


def tracing_from_environ(environ: Mapping[str, str]) -> Tracing | None:
    """Tracing as the standard OTEL_* variables configure it, or None when they do not ask for it."""
    names = [name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    if not names and not any(environ.get(variable) for variable in _ENDPOINT_VARIABLES):
        return None
    names = names or ["otlp"]
    if names == ["none"]:
        return None
    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    return Tracing(provider)


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise TracingError(f"OTEL_TRACES_EXPORTER: expected otlp, console or none, got {name!r}")
