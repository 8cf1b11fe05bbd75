"""The gateway's one app factory: builds every part from Settings and owns their lifetimes.

Nothing is built at import time: the database, the Bedrock client, the request-log
writer and the gRPC server are created here, passed down to the services that use
them, and closed here in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Self, cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from llmgw.server.core.application_profiles import ModelDirectory
from llmgw.server.core.catalog import Catalog
from llmgw.server.core.keys import load_server_secret
from llmgw.server.governance.admission import Governance, GovernanceFactory
from llmgw.server.governance.identity import BearerAuthenticator, KeyAuthenticator
from llmgw.server.governance.model_access import ModelAccessCache, default_access
from llmgw.server.governance.oidc import OidcAuthenticator
from llmgw.server.providers.bedrock.client import BedrockClient, BedrockClientConfig
from llmgw.server.providers.bedrock.thinking import ThinkingSettings
from llmgw.server.routing.breaker import BreakerPolicy
from llmgw.server.routing.router import RetryPolicy, Router
from llmgw.server.routing.table import RouteTable
from llmgw.server.rpc.authentication import Authentication
from llmgw.server.rpc.connection_limits import GrpcLimits, server_options
from llmgw.server.rpc.inprocess import InProcessChannel, LocalHandlers
from llmgw.server.rpc.metrics import GatewayMetrics, MetricsServer
from llmgw.server.rpc.observability import CallObserver, note_principal
from llmgw.server.rpc.pipeline import GatewayInterceptor
from llmgw.server.rpc.shutdown import CallTracker
from llmgw.server.rpc.tracing import Tracing
from llmgw.server.services.admission import Admission
from llmgw.server.services.bedrock_passthrough import BedrockPassthroughServicer
from llmgw.server.services.chat import ChatServicer
from llmgw.server.services.claude import ClaudeWiring
from llmgw.server.services.detached import DetachedCalls
from llmgw.server.services.embeddings import EmbeddingServicer
from llmgw.server.services.keys import KeyServicer
from llmgw.server.services.messages import MessagesServicer
from llmgw.server.services.models import ModelServicer
from llmgw.server.services.policies import PolicyServicer
from llmgw.server.services.quotas import QuotaServicer
from llmgw.server.services.recording import RequestRecorder
from llmgw.server.services.routes import RouteServicer
from llmgw.server.services.usage import UsageServicer
from llmgw.server.services.users import UserServicer
from llmgw.server.settings import Settings, SettingsError
from llmgw.server.store.db import open_database
from llmgw.server.store.group_commit import GroupCommitWriter
from llmgw.server.store.lease_keeper import LeaseKeeper, replica_id
from llmgw.server.store.ledger import QuotaRules
from llmgw.server.store.outage import OutageLog
from llmgw.server.store.ratelimit import RateLimiter
from llmgw.server.store.runner import DatabaseRunner
from llmgw.server.store.spool import SPOOL_FILE_NAME, Spool
from llmgw.v1 import (
    bedrock_service_pb2,
    bedrock_service_pb2_grpc,
    chat_service_pb2,
    chat_service_pb2_grpc,
    embedding_service_pb2,
    embedding_service_pb2_grpc,
    key_service_pb2,
    key_service_pb2_grpc,
    messages_service_pb2,
    messages_service_pb2_grpc,
    model_service_pb2,
    model_service_pb2_grpc,
    policy_service_pb2,
    policy_service_pb2_grpc,
    quota_service_pb2,
    quota_service_pb2_grpc,
    route_service_pb2,
    route_service_pb2_grpc,
    usage_service_pb2,
    usage_service_pb2_grpc,
    user_service_pb2,
    user_service_pb2_grpc,
)

logger = logging.getLogger(__name__)

# How long calls cancelled at the end of the shutdown grace get to record and end.
CANCEL_MARGIN_S = 2.0

# Credentials boto3 signs with when talking to the fake Bedrock (it ignores them).
FAKE_AWS_CREDENTIALS = ("AKIDLLMGWFAKEBEDROCK", "llmgw-fake-bedrock-secret")

SERVICE_NAMES = (
    chat_service_pb2.DESCRIPTOR.services_by_name["ChatService"].full_name,
    model_service_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name,
    embedding_service_pb2.DESCRIPTOR.services_by_name["EmbeddingService"].full_name,
    key_service_pb2.DESCRIPTOR.services_by_name["KeyService"].full_name,
    quota_service_pb2.DESCRIPTOR.services_by_name["QuotaService"].full_name,
    policy_service_pb2.DESCRIPTOR.services_by_name["PolicyService"].full_name,
    usage_service_pb2.DESCRIPTOR.services_by_name["UsageService"].full_name,
    messages_service_pb2.DESCRIPTOR.services_by_name["MessagesService"].full_name,
    bedrock_service_pb2.DESCRIPTOR.services_by_name["BedrockService"].full_name,
    user_service_pb2.DESCRIPTOR.services_by_name["UserService"].full_name,
    route_service_pb2.DESCRIPTOR.services_by_name["RouteService"].full_name,
)


def utc_now() -> datetime:
    """The real clock: aware UTC now."""
    return datetime.now(UTC)


def bedrock_config(settings: Settings, region: str | None = None) -> BedrockClientConfig:
    """The Bedrock client settings of a region (AWS_REGION by default).

    The fake gets dummy credentials, real Bedrock the region's profile or role, else
    boto3's chain. A `[bedrock.regions.*]` table for AWS_REGION overrides
    BEDROCK_ENDPOINT_URL. Every call goes through the router, which retries it
    (BEDROCK_MAX_ATTEMPTS rounds, across regions), so each gets one attempt here.
    """
    name = region or settings.aws_region
    table = next((entry for entry in settings.bedrock if entry.name == name), None)
    endpoint = settings.bedrock_endpoint_url if name == settings.aws_region else None
    access_key, secret_key = FAKE_AWS_CREDENTIALS if settings.benchmark_mode else (None, None)
    return BedrockClientConfig(
        region=name,
        endpoint_url=endpoint if table is None or table.endpoint_url is None else table.endpoint_url,
        max_attempts=1,
        transport_max_attempts=1,
        connect_timeout_s=settings.bedrock_connect_timeout_seconds,
        read_timeout_s=settings.bedrock_read_timeout_seconds,
        max_concurrency=settings.bedrock_max_concurrency,
        access_key_id=access_key,
        secret_access_key=secret_key,
        profile=None if table is None or settings.benchmark_mode else table.profile,
        role_arn=None if table is None or settings.benchmark_mode else table.role_arn,
    )


def check_catalog_settings(settings: Settings, catalog: Catalog | None = None) -> None:
    """Check the settings that name catalog models (APPLICATION_PROFILES, DEFAULT_MODEL_ACCESS, ROUTES).

    Without building a gateway.

    `llmgw serve --workers N` calls it before starting workers, so an unknown id stops
    start-up with one line, not one per worker. Raises SettingsError naming it.
    """
    models = model_directory(catalog or Catalog.load(), settings)
    default_access(models, settings.default_model_access)
    RouteTable(models, settings.routes, settings.aws_region)


def model_directory(catalog: Catalog, settings: Settings) -> ModelDirectory:
    """The catalog's ids and the APPLICATION_PROFILES ARNs; SettingsError for a bad profile."""
    try:
        return ModelDirectory(catalog, settings.application_profiles)
    except ValueError as exc:
        raise SettingsError(f"LLMGW_APPLICATION_PROFILES: {exc}") from None


def build_router(settings: Settings, metrics: GatewayMetrics) -> Router:
    """One Bedrock client per region, the retry and breaker policies, metrics told of every attempt and breaker."""
    return Router(
        {region: BedrockClient(bedrock_config(settings, region)) for region in settings.regions},
        RetryPolicy(
            max_rounds=settings.bedrock_max_attempts,
            backoff_base_s=settings.bedrock_backoff_base_seconds,
            backoff_max_s=settings.bedrock_backoff_max_seconds,
            first_byte_timeout_s=settings.bedrock_first_byte_timeout_seconds,
            idle_timeout_s=settings.bedrock_idle_timeout_seconds,
            total_timeout_s=settings.bedrock_total_timeout_seconds,
        ),
        BreakerPolicy(
            failures=settings.breaker_failures,
            failure_rate=settings.breaker_failure_rate,
            window_s=settings.breaker_window_seconds,
            min_requests=settings.breaker_min_requests,
            cooldown_s=settings.breaker_cooldown_seconds,
        ),
        observer=metrics,
    )


def grpc_limits(settings: Settings) -> GrpcLimits:
    """The gRPC port's connection limits, from the GRPC_* settings."""
    return GrpcLimits(
        handshake_timeout_s=settings.grpc_handshake_timeout_seconds,
        idle_s=settings.grpc_idle_seconds,
        max_age_s=settings.grpc_max_connection_age_seconds,
        age_grace_s=settings.grpc_max_connection_age_grace_seconds,
        keepalive_s=settings.grpc_keepalive_seconds,
        keepalive_timeout_s=settings.grpc_keepalive_timeout_seconds,
        min_ping_interval_s=settings.grpc_min_ping_interval_seconds,
        max_ping_strikes=settings.grpc_max_ping_strikes,
        max_concurrent_streams=settings.grpc_max_concurrent_streams,
        max_metadata_bytes=settings.grpc_max_metadata_bytes,
    )


def thinking_settings(settings: Settings) -> ThinkingSettings:
    """The chat answer limit and thinking budgets, from DEFAULT_MAX_TOKENS and THINKING_BUDGET_*."""
    return ThinkingSettings(
        default_max_tokens=settings.default_max_tokens,
        budgets={
            "low": settings.thinking_budget_low,
            "medium": settings.thinking_budget_medium,
            "high": settings.thinking_budget_high,
            "xhigh": settings.thinking_budget_xhigh,
        },
    )


class Gateway:
    """The gRPC server with its database, writer (request log and quota ledger) and Bedrock client.

    `clock` is every governance decision's notion of now (key expiry, quota periods, the
    rate window a request is charged to); tests inject one to roll periods over.
    `governance` builds the model-access and quota checks; bench/governance.py passes a
    stand-in that checks nothing, to measure what they cost. `tracing` adds an
    OpenTelemetry span per call (server/rpc/tracing.py). `metrics` holds the gateway's
    Prometheus registry, which the HTTP bridge or METRICS_LISTEN serves (the latter only
    with `metrics_listener`: one worker of several serves it, for all of them).
    `in_process_channel()` is the channel the bridge in the same process calls it through.

    Raises SettingsError (naming LLMGW_DEFAULT_MODEL_ACCESS or LLMGW_ROUTES) when the
    default model access or a route names a model the catalog does not know.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        governance: GovernanceFactory = Governance,
        tracing: Tracing | None = None,
        metrics_listener: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._metrics_listener = metrics_listener
        self.metrics = GatewayMetrics()
        self.calls = CallTracker()
        self.tracing = tracing
        self._metrics_server: MetricsServer | None = None
        self.catalog = catalog or Catalog.load()
        self.models = model_directory(self.catalog, settings)
        default = default_access(self.models, settings.default_model_access)
        self.routes = RouteTable(self.models, settings.routes, settings.aws_region)
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.server_secret = load_server_secret(settings.server_secret, settings.data_dir)
        self.database = open_database(settings.database_url, settings.data_dir)
        self.db = DatabaseRunner()
        self.writer = GroupCommitWriter(
            self.database,
            quota_rules=QuotaRules(
                settings.default_quota_frequency,
                settings.default_quota_dollars,
                clock,
                lease_seconds=settings.reservation_lease_seconds,
                owner=replica_id(),
            ),
            rate_limiter=RateLimiter(settings.default_rpm, settings.default_tpm, clock),
            spool=Spool(settings.data_dir / SPOOL_FILE_NAME),
        )
        self.router = build_router(settings, self.metrics)
        self.outages = OutageLog()
        self.lease_keeper = LeaseKeeper(self.writer, settings.reservation_lease_seconds, self.outages)
        self.detached = DetachedCalls()
        self.health = health.aio.HealthServicer()
        self.authenticator = KeyAuthenticator(
            self.server_secret,
            settings.is_admin,
            self.db,
            settings.key_cache_seconds,
            clock=clock,
            on_use=self.writer.touch_key_nowait,
        )
        self.access = ModelAccessCache(default, self.db, settings.key_cache_seconds)
        self.governance = governance(self.access, self.writer)
        self._interceptors: list[grpc.aio.ServerInterceptor] = []
        self.server = self._grpc_server()
        # The same handlers, for the in-process bridge (server/rpc/inprocess.py).
        self._local = LocalHandlers()
        self._add_services()
        self.port = 0

    def _bearer_authenticator(self) -> BearerAuthenticator:
        """API keys, and OIDC tokens when issuers are configured."""
        settings = self.settings
        if not settings.oidc_issuers:
            return BearerAuthenticator(self.authenticator, None)
        oidc = OidcAuthenticator(
            settings.oidc_issuers,
            settings.is_admin,
            leeway_seconds=settings.jwt_leeway_seconds,
            cache_seconds=settings.jwks_cache_seconds,
            min_refresh_seconds=settings.jwks_min_refresh_seconds,
        )
        return BearerAuthenticator(self.authenticator, oidc.authenticate_token)

    def _grpc_server(self) -> grpc.aio.Server:
        """The grpc.aio server with the gateway's interceptor layer (and tracing outside it), and its limits."""
        limits = grpc_limits(self.settings)
        pipeline = GatewayInterceptor(
            CallObserver(self.metrics),
            self.calls,
            Authentication(self._bearer_authenticator(), note_principal),
            self.outages,
            limits.max_metadata_bytes,
            self.settings.max_concurrent_calls,
        )
        # A request may carry images up to MAX_BODY_BYTES, plus protobuf framing.
        message_limit = self.settings.max_body_bytes + 1024 * 1024
        # Outermost first: traces and logs see every call and its final status; a call
        # ended by shutdown becomes ShuttingDown inside the error mapping (server/rpc/pipeline.py).
        self._interceptors = [*([] if self.tracing is None else [self.tracing.interceptor()]), pipeline]
        return grpc.aio.server(interceptors=self._interceptors, options=server_options(limits, message_limit))

    def _add_services(self) -> None:
        """Every servicer, health and reflection, on the server."""
        # Each servicer is registered on the server and in the handlers the in-process bridge calls;
        # the generated add_* functions call only LocalHandlers' two add methods.
        for server in (self.server, cast(grpc.aio.Server, self._local)):
            self._add_servicers(server)
        reflection.enable_server_reflection((*SERVICE_NAMES, reflection.SERVICE_NAME, health.SERVICE_NAME), self.server)

    def _add_servicers(self, server: grpc.aio.Server) -> None:
        """Every servicer and health on one server (or the in-process handlers)."""
        settings, clock = self.settings, self.clock
        recorder = RequestRecorder(self.writer, self.metrics)
        admission = Admission(self.models, self.governance)
        chat = ChatServicer(
            admission,
            self.routes,
            self.router,
            recorder,
            clock,
            thinking_settings(settings),
            catalog=self.catalog,
            governance=self.governance,
            detached=self.detached,
        )
        chat_service_pb2_grpc.add_ChatServiceServicer_to_server(chat, server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.models, self.access), server)
        claude = ClaudeWiring(
            self.catalog,
            admission,
            self.routes,
            self.router,
            recorder,
            clock,
            self.governance,
            self.detached,
            thinking_settings(settings),
        )
        messages_service_pb2_grpc.add_MessagesServiceServicer_to_server(MessagesServicer(claude), server)
        bedrock_service_pb2_grpc.add_BedrockServiceServicer_to_server(BedrockPassthroughServicer(claude), server)
        embedding_service_pb2_grpc.add_EmbeddingServiceServicer_to_server(
            EmbeddingServicer(admission, self.routes, self.router, recorder, clock, self.detached), server
        )
        route_service_pb2_grpc.add_RouteServiceServicer_to_server(RouteServicer(self.routes, self.router), server)
        key_service_pb2_grpc.add_KeyServiceServicer_to_server(
            KeyServicer(self.server_secret, self.authenticator, self.db, clock), server
        )
        quota_service_pb2_grpc.add_QuotaServiceServicer_to_server(
            QuotaServicer(
                self.db,
                settings.default_quota_frequency,
                settings.default_quota_dollars,
                settings.is_admin,
                clock,
                default_rpm=settings.default_rpm,
                default_tpm=settings.default_tpm,
                release=self.writer.release_reservation,
            ),
            server,
        )
        policy_service_pb2_grpc.add_PolicyServiceServicer_to_server(
            PolicyServicer(self.models, self.access, self.db, settings.is_admin, clock), server
        )
        self.usage = UsageServicer(self.db, clock)
        usage_service_pb2_grpc.add_UsageServiceServicer_to_server(self.usage, server)
        user_service_pb2_grpc.add_UserServiceServicer_to_server(
            UserServicer(
                self.db,
                settings.admin_list,
                settings.is_admin,
                settings.default_quota_frequency,
                settings.default_quota_dollars,
                clock,
            ),
            server,
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)

    async def start(self) -> int:
        """Start serving gRPC on GRPC_LISTEN; returns the bound port (useful with port 0)."""
        self.writer.start()
        self.lease_keeper.start()
        address = str(self.settings.grpc_listen)
        if self.settings.tls_cert_file is not None and self.settings.tls_key_file is not None:
            credentials = grpc.ssl_server_credentials(
                [(self.settings.tls_key_file.read_bytes(), self.settings.tls_cert_file.read_bytes())]
            )
            self.port = self.server.add_secure_port(address, credentials)
        else:
            self.port = self.server.add_insecure_port(address)
        await self.server.start()
        if self.settings.metrics_listen is not None and self._metrics_listener:
            listen = self.settings.metrics_listen
            self._metrics_server = MetricsServer(self.metrics, listen.host, listen.port)
            logger.info("metrics on http://%s:%d/metrics", listen.host, self._metrics_server.port)
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        logger.info("gRPC listening on %s:%d", self.settings.grpc_listen.host, self.port)
        return self.port

    def in_process_channel(self) -> grpc.aio.Channel:
        """A channel onto this gateway's servicers that stays in the process (for `llmgw serve`'s bridge).

        Calls go through the same interceptors as network calls: request id, auth, metrics,
        logs, error mapping, shutdown tracking (server/rpc/inprocess.py).
        """
        return InProcessChannel(self._local, self._interceptors)

    @property
    def metrics_port(self) -> int | None:
        """The port METRICS_LISTEN bound, when set."""
        return None if self._metrics_server is None else self._metrics_server.port

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, give in-flight ones `grace` seconds, then flush and close everything.

        New calls are refused at once. Calls still running when the grace is up
        (SHUTDOWN_GRACE_SECONDS by default) end with UNAVAILABLE "the gateway is
        shutting down", their usage so far recorded as cancelled; grpc's own stop
        gets a little longer, so it only sees calls that ignored their cancellation.
        Every queued usage row is committed before the database closes.
        """
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        await self.health.enter_graceful_shutdown()
        stopping = asyncio.ensure_future(self.server.stop(grace + CANCEL_MARGIN_S))
        cancelled = await self.calls.drain(grace, CANCEL_MARGIN_S)
        if cancelled:
            logger.info("shutdown: ended %d call(s) still running after %.1f s", cancelled, grace)
        await stopping
        # Calls whose clients left still wait for Bedrock's answer to be charged; not forever.
        await self.detached.wait(CANCEL_MARGIN_S + grace)
        await self.lease_keeper.stop()
        if self._metrics_server is not None:
            self._metrics_server.close()
        if self.tracing is not None:
            self.tracing.shutdown()
        await self.writer.close()
        await self.router.close()
        self.db.close()
        self.usage.close()
        self.database.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop(grace=1.0)
