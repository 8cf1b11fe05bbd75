"""The gateway's Prometheus metrics: what operators watch, one registry per Gateway.

Each Gateway owns its own CollectorRegistry (never the process-global one), so
several gateways in one process (tests) do not collide. The HTTP bridge serves it
at `GET /metrics` when it runs in the same process; a `--grpc-only` process serves
it on METRICS_LISTEN. Costs are a float counter of USD: fine for dashboards, while
the ledger and the request log stay exact.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from llmgw.server.core.money import PICODOLLARS_PER_USD
from llmgw.server.store.group_commit import RequestRow
from llmgw.wire import errors

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
REJECTION_OUTCOMES = frozenset({"quota_exceeded", "model_access_denied", "rate_limited"})
# Model ids come from clients; past this many distinct ones, new ids count as "other".
MAX_MODEL_LABELS = 200


class GatewayMetrics:
    """Counters, histograms and gauges of one gateway, fed by the request recorder and the interceptor layer."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "llmgw_requests",
            "Chat and embedding requests by API, model and outcome.",
            ["api", "model", "outcome"],
            registry=r,
        )
        self.input_tokens = Counter("llmgw_input_tokens", "Input tokens served.", ["api", "model"], registry=r)
        self.output_tokens = Counter("llmgw_output_tokens", "Output tokens served.", ["api", "model"], registry=r)
        self.cost = Counter("llmgw_cost_usd", "Cost charged to users, in USD.", ["model"], registry=r)
        self.latency = Histogram(
            "llmgw_request_duration_seconds",
            "Chat and embedding request latency, start to last byte.",
            ["api", "model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "llmgw_time_to_first_token_seconds",
            "Time from request start to the first generated token.",
            ["api", "model"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.bedrock_errors = Counter(
            "llmgw_bedrock_errors", "Bedrock failures by error reason.", ["reason"], registry=r
        )
        self.rejections = Counter(
            "llmgw_rejections",
            "Requests refused by governance (quota, model access, rate limit).",
            ["reason"],
            registry=r,
        )
        self.rpcs = Counter("llmgw_grpc_calls", "gRPC calls by method and status code.", ["method", "code"], registry=r)
        self.in_flight = Gauge("llmgw_grpc_calls_in_flight", "gRPC calls being served now.", registry=r)
        self._models: set[str] = set()

    def _model_label(self, model: str) -> str:
        if model in self._models:
            return model
        if len(self._models) >= MAX_MODEL_LABELS:
            return "other"
        self._models.add(model)
        return model

    def observe_request(self, row: RequestRow, error: BaseException | None) -> None:
        """Count a finished chat or embedding request from its request-log row."""
        model = self._model_label(row.model)
        self.requests.labels(row.api, model, row.outcome).inc()
        if row.input_tokens:
            self.input_tokens.labels(row.api, model).inc(row.input_tokens)
        if row.output_tokens:
            self.output_tokens.labels(row.api, model).inc(row.output_tokens)
        if row.cost_picodollars:
            self.cost.labels(model).inc(row.cost_picodollars / PICODOLLARS_PER_USD)
        self.latency.labels(row.api, model).observe(row.latency_ms / 1000)
        if row.ttft_ms is not None:
            self.ttft.labels(row.api, model).observe(row.ttft_ms / 1000)
        if isinstance(error, errors.UpstreamError):
            self.bedrock_errors.labels(error.reason.lower()).inc()
        if row.outcome in REJECTION_OUTCOMES:
            self.rejections.labels(row.outcome).inc()

    def render(self) -> tuple[bytes, str]:
        """The registry in the Prometheus text format, with its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsServer:
    """The registry on its own small HTTP port (METRICS_LISTEN), for processes without the HTTP bridge."""

    def __init__(self, metrics: GatewayMetrics, host: str, port: int) -> None:
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, host, registry=metrics.registry)
        self.port = int(self._server.server_port)

    def close(self) -> None:
        """Stop serving and join the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
