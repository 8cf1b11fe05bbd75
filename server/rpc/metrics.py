"""The gateway's Prometheus metrics: what operators watch, one registry per Gateway.

Each Gateway owns its own CollectorRegistry (never the process-global one), so
several gateways in one process (tests) do not collide. With several worker
processes (`llmgw serve --workers N`), prometheus_client's multiprocess mode is on
(PROMETHEUS_MULTIPROC_DIR, set by the supervisor): every worker writes its samples
to files there and any worker's `/metrics` renders the sum over all of them. The HTTP bridge serves it
at `GET /metrics` when it runs in the same process; a `--grpc-only` process serves
it on METRICS_LISTEN. Costs are a float counter of USD: fine for dashboards, while
the ledger and the request log stay exact.
"""

from __future__ import annotations

import os
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, start_http_server
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from llmgw.server.core.money import PICODOLLARS_PER_USD
from llmgw.server.store.group_commit import RequestRow
from llmgw.wire import errors

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
REJECTION_OUTCOMES = frozenset({"quota_exceeded", "model_access_denied", "rate_limited"})
# Set by `llmgw serve --workers N` (llmgw/workers.py) for its workers: prometheus_client's multiprocess mode.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Model ids come from clients; past this many distinct ones, new ids count as "other".
MAX_MODEL_LABELS = 200
# The breaker-state gauge's values: what a dashboard plots.
BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


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
        self.in_flight = Gauge(
            "llmgw_grpc_calls_in_flight", "gRPC calls being served now.", registry=r, multiprocess_mode="livesum"
        )
        # Targets come from the settings, not from clients, so their labels are bounded.
        self.attempts = Counter(
            "llmgw_bedrock_attempts",
            "Calls to Bedrock by region, target id and outcome (success or the error reason).",
            ["region", "target", "outcome"],
            registry=r,
        )
        self.failovers = Counter(
            "llmgw_failovers",
            "Requests that left a failed target for another attempt, by the target left.",
            ["region", "target"],
            registry=r,
        )
        self.breaker_transitions = Counter(
            "llmgw_breaker_transitions",
            "Circuit breaker state changes by target and the state entered.",
            ["region", "target", "state"],
            registry=r,
        )
        # Each worker process has its own breakers; across workers /metrics shows the worst state.
        self.breaker_state = Gauge(
            "llmgw_breaker_state",
            "Circuit breaker of each route target as of its last change: 0 closed, 1 half-open, 2 open.",
            ["region", "target"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self._models: set[str] = set()

    def attempt(self, region: str, model: str, outcome: str) -> None:
        """One call to Bedrock ended (the router reports it)."""
        self.attempts.labels(region, model, outcome).inc()

    def failover(self, region: str, model: str) -> None:
        """A request moved on from a failed target."""
        self.failovers.labels(region, model).inc()

    def breaker_transition(self, region: str, model: str, state: str) -> None:
        """A target's breaker changed state."""
        self.breaker_transitions.labels(region, model, state).inc()
        self.breaker_state.labels(region, model).set(BREAKER_STATE_VALUES[state])

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

    def exposition_registry(self) -> CollectorRegistry:
        """What /metrics shows: this registry, or in multiprocess mode the sum over every worker's files."""
        if not os.environ.get(MULTIPROCESS_DIR_ENV):
            return self.registry
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]  # untyped upstream
        return combined

    def render(self) -> tuple[bytes, str]:
        """The metrics in the Prometheus text format, with its content type."""
        return generate_latest(self.exposition_registry()), CONTENT_TYPE_LATEST


class MetricsServer:
    """The registry on its own small HTTP port (METRICS_LISTEN), for processes without the HTTP bridge."""

    def __init__(self, metrics: GatewayMetrics, host: str, port: int) -> None:
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, host, registry=metrics.exposition_registry())
        self.port = int(self._server.server_port)

    def close(self) -> None:
        """Stop serving and join the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
