"""OpenTelemetry: off without OTEL_* variables, and a server span per gRPC call when on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.rpc.tracing import Tracing, TracingError, tracing_from_environ
from llmgw.v1 import chat_service_pb2, chat_service_pb2_grpc
from tests.chat_requests import params, user
from tests.support import GatewayThread, bearer, gateway_settings


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, True),
    ],
)
def test_tracing_is_on_only_when_the_environment_asks(environ: dict[str, str], on: bool) -> None:
    """No OTEL_* variables (or the `none` exporter) means no tracing; an exporter or endpoint turns it on."""
    tracing = tracing_from_environ(environ)
    assert (tracing is not None) == on
    if tracing is not None:
        tracing.shutdown()


def test_unknown_exporter_is_a_clear_error() -> None:
    """An exporter we do not ship stops start-up naming the variable."""
    with pytest.raises(TracingError, match="OTEL_TRACES_EXPORTER"):
        tracing_from_environ({"OTEL_TRACES_EXPORTER": "zipkin"})


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """An in-memory exporter for the test's tracer provider."""
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


def test_each_grpc_call_gets_a_server_span(
    spans: InMemorySpanExporter, fake_bedrock: FakeBedrockServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A chat call through a traced gateway leaves one span named after its method."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    settings = gateway_settings(tmp_path_factory.mktemp("traced"), fake_bedrock.url)
    running = GatewayThread(settings, tracing=Tracing(provider)).start()
    try:
        key = running.create_key("traced-user", "t")
        with running.channel() as channel:
            chat_service_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(
                chat_service_pb2.CreateChatCompletionRequest(params=params(user("trace me"))), metadata=bearer(key)
            )
    finally:
        running.stop()
    names = [span.name for span in spans.get_finished_spans()]
    assert "/llmgw.v1.ChatService/CreateChatCompletion" in names
