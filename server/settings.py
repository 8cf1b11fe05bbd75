"""Gateway settings: one TOML file plus `LLMGW_`-prefixed environment overrides.

The seed's setting names keep their meaning (ADMIN_LIST, DEFAULT_QUOTA_FREQUENCY,
DEFAULT_QUOTA_DOLLARS, DEFAULT_MODEL_ACCESS, DEBUG, BENCHMARK_MODE). In the TOML
file a setting is written in lowercase (`grpc_listen = "0.0.0.0:50051"`); in the
environment with the prefix (`LLMGW_GRPC_LISTEN=0.0.0.0:50051`), which wins.
DEFAULT_MODEL_ACCESS lists the model ids users without their own policy may call;
empty (unset) or `*` means every model of the catalog, and the gateway refuses to
start when it names a model the catalog does not know. Every value is parsed once,
here, and a bad one raises SettingsError whose message is one line naming the
setting, so start-up fails clearly.

BEDROCK (`[bedrock.regions.<name>]` tables, each with optional `endpoint_url` and
`profile` or `role_arn`) and ROUTES (`[[routes]]` with `model`, `targets` and
optional `fallbacks`) are the routing settings of DESIGN.md "Routing and
failover"; routing_config.py parses them, and a route naming a region that is not
declared stops start-up. The BEDROCK_* and BREAKER_* scalars tune retries,
timeouts and circuit breakers.

DEFAULT_MAX_TOKENS is the answer limit sent to Bedrock when a chat caller sets
none (a catalog entry's `default_max_tokens` overrides it per model); it is also
the output the quota reservation assumes for such a request. THINKING_BUDGET_LOW,
_MEDIUM, _HIGH and _XHIGH are the `budget_tokens` sent for each `reasoning_effort`
to models that think with a fixed budget (at least 1,024 each).

OIDC_ISSUERS is a structured setting too: in the TOML file an array of tables
(`[[oidc_issuers]]` with `issuer`, `audience`, optional `jwks_uri`,
`username_claim`, `admin_group_claim`, `admin_group`, `algorithms`); in the
environment the same array as a TOML inline array, e.g.
`LLMGW_OIDC_ISSUERS='[{issuer = "https://login.example.com", audience = "llmgw"}]'`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmgw.server.core.application_profiles import ARN_PATTERN, ApplicationProfile
from llmgw.server.core.periods import FREQUENCIES, QuotaFrequency
from llmgw.server.routing_config import BedrockRegion, RouteSpec, parse_regions, parse_routes
from llmgw.wire.echo import echo
from llmgw.wire.errors import InvalidArgument
from llmgw.wire.usd import MAX_DECIMALS, MAX_USD, PICODOLLARS_PER_USD, parse_usd

ENV_PREFIX = "LLMGW_"
DEFAULT_DATA_DIR = Path("~/.local/share/llmgw").expanduser()
_MIN_THINKING_BUDGET = 1024
LogFormat = Literal["json", "text"]


class SettingsError(ValueError):
    """A setting has a bad value; the message names it and is fit to print as is."""


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """A host and port to listen on; port 0 picks a free port."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _parse_listen(raw: object) -> ListenAddress:
    text = str(raw).strip()
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"expected HOST:PORT with a port from 0 to 65535, got {text!r}")
    return ListenAddress(host, int(port_text))


def _parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _parse_list(raw: object) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _parse_frequency(raw: object) -> QuotaFrequency:
    text = str(raw).strip().lower()
    for frequency in FREQUENCIES:
        if text == frequency:
            return frequency
    raise ValueError(f"expected daily, weekly or monthly, got {echo(str(raw))}")


def _parse_dollars(raw: object) -> int:
    try:
        return parse_usd(str(raw), field="value")
    except InvalidArgument:
        raise ValueError(
            f"expected a USD amount from 0 to {MAX_USD} with at most {MAX_DECIMALS} decimals, got {echo(str(raw))}"
        ) from None


def _positive_int(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected a positive integer, got {raw!r}")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"expected a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"expected a positive integer, got {raw!r}")
    return value


def _positive_float(raw: object) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ValueError(f"expected a positive number, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"expected a positive number, got {raw!r}")
    return value


def _optional_text(raw: object) -> str | None:
    text = str(raw).strip()
    return text or None


def _text(raw: object) -> str:
    return str(raw).strip()


def _optional_file(raw: object) -> Path | None:
    text = str(raw).strip()
    if not text:
        return None
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError(f"no such file: {text}")
    return path


def _thinking_budget(raw: object) -> int:
    value = _positive_int(raw)
    if value < _MIN_THINKING_BUDGET:
        raise ValueError(f"expected at least {_MIN_THINKING_BUDGET} tokens (Anthropic's smallest budget), got {raw!r}")
    return value


def _non_negative_int(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected an integer of 0 or more, got {raw!r}")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"expected an integer of 0 or more, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"expected an integer of 0 or more, got {raw!r}")
    return value


def _non_negative_float(raw: object) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ValueError(f"expected a number of 0 or more, got {raw!r}") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"expected a number of 0 or more, got {raw!r}")
    return value


def _optional_listen(raw: object) -> ListenAddress | None:
    return _parse_listen(raw) if str(raw).strip() else None


def _log_format(raw: object) -> LogFormat:
    text = str(raw).strip().lower()
    if text == "json":
        return "json"
    if text == "text":
        return "text"
    raise ValueError(f"expected json or text, got {raw!r}")


# Asymmetric algorithms only: `none` and the HMAC family (HS*) would let anyone who
# knows the issuer's public key, or nothing at all, mint tokens.
ALLOWED_JWT_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DEFAULT_JWT_ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True, slots=True)
class OidcIssuer:
    """One OpenID Connect issuer whose JWTs are accepted as bearer tokens.

    `jwks_uri` None means discovery through `<issuer>/.well-known/openid-configuration`.
    Admins are ADMIN_LIST, plus (when both are set) whoever's `admin_group_claim`
    claim (a string or a list of strings) contains `admin_group`.
    """

    issuer: str
    audience: tuple[str, ...]
    jwks_uri: str | None = None
    username_claim: str = "sub"
    admin_group_claim: str | None = None
    admin_group: str | None = None
    algorithms: tuple[str, ...] = DEFAULT_JWT_ALGORITHMS


_ISSUER_FIELDS = frozenset(OidcIssuer.__slots__)


def _http_url(value: object, name: str) -> str:
    text = str(value).strip()
    if not text.startswith(("https://", "http://")) or len(text) <= len("https://"):
        raise ValueError(f"{name} must be an http(s) URL, got {text!r}")
    return text


def _parse_issuer(raw: object) -> OidcIssuer:
    if not isinstance(raw, dict):
        raise ValueError(f"each issuer must be a table, got {raw!r}")
    unknown = sorted(set(raw) - _ISSUER_FIELDS)
    if unknown:
        raise ValueError(f"unknown issuer field {unknown[0]!r}")
    if "issuer" not in raw or "audience" not in raw:
        raise ValueError("each issuer needs `issuer` and `audience`")
    issuer = _http_url(raw["issuer"], "issuer")
    audience = _parse_list(raw["audience"])
    if not audience:
        raise ValueError(f"issuer {issuer}: audience must not be empty")
    algorithms = _parse_list(raw.get("algorithms", list(DEFAULT_JWT_ALGORITHMS)))
    refused = sorted(set(algorithms) - ALLOWED_JWT_ALGORITHMS)
    if refused or not algorithms:
        allowed = ", ".join(sorted(ALLOWED_JWT_ALGORITHMS))
        raise ValueError(f"issuer {issuer}: algorithm {refused[0] if refused else '(none)'!r} is not one of {allowed}")
    group_claim = _optional_text(raw.get("admin_group_claim", ""))
    group = _optional_text(raw.get("admin_group", ""))
    if (group_claim is None) != (group is None):
        raise ValueError(f"issuer {issuer}: admin_group_claim and admin_group go together")
    jwks_uri = raw.get("jwks_uri")
    return OidcIssuer(
        issuer=issuer,
        audience=audience,
        jwks_uri=_http_url(jwks_uri, "jwks_uri") if jwks_uri else None,
        username_claim=_text(raw.get("username_claim", "sub")) or "sub",
        admin_group_claim=group_claim,
        admin_group=group,
        algorithms=algorithms,
    )


def _parse_issuers(raw: object) -> tuple[OidcIssuer, ...]:
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return ()
        try:
            raw = tomllib.loads(f"issuers = {text}")["issuers"]
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"expected a TOML inline array of tables: {exc}") from None
    if not isinstance(raw, list):
        raise ValueError(f"expected an array of issuer tables, got {raw!r}")
    issuers = tuple(_parse_issuer(item) for item in raw)
    names = [issuer.issuer for issuer in issuers]
    if len(set(names)) != len(names):
        raise ValueError("an issuer is listed twice")
    return issuers


def _parse_application_profiles(raw: object) -> tuple[ApplicationProfile, ...]:
    """`[[application_profiles]]` tables (arn, model), or the same as a TOML inline array in the environment."""
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return ()
        try:
            raw = tomllib.loads(f"profiles = {text}")["profiles"]
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"expected a TOML inline array of tables: {exc}") from None
    if not isinstance(raw, list):
        raise ValueError(f"expected an array of {{arn, model}} tables, got {raw!r}")
    profiles: list[ApplicationProfile] = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"arn", "model"}:
            raise ValueError(f"each application profile is a table with exactly arn and model, got {item!r}")
        arn, model = item["arn"], item["model"]
        if not isinstance(arn, str) or not ARN_PATTERN.match(arn):
            raise ValueError(
                f"{arn!r} is not an application inference profile ARN "
                "(arn:aws:bedrock:REGION:ACCOUNT:application-inference-profile/ID)"
            )
        if not isinstance(model, str) or not model:
            raise ValueError(f"application profile {arn}: model must be a catalog model id")
        profiles.append(ApplicationProfile(arn, model))
    arns = [profile.arn for profile in profiles]
    if len(set(arns)) != len(arns):
        raise ValueError("an application profile ARN is listed twice")
    return tuple(profiles)


def _database_url(raw: object) -> str | None:
    text = str(raw).strip()
    if text and not text.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ValueError(f"expected sqlite:///PATH or postgresql://..., got {text.split('://')[0]!r} URL")
    return text or None


def _path(raw: object) -> Path:
    return Path(str(raw)).expanduser()


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the gateway, parsed and validated."""

    admin_list: tuple[str, ...] = ()
    default_quota_frequency: QuotaFrequency = "weekly"
    default_quota_dollars: int = 25 * PICODOLLARS_PER_USD
    default_model_access: tuple[str, ...] = ()
    debug: bool = False
    benchmark_mode: bool = False
    database_url: str | None = None
    data_dir: Path = DEFAULT_DATA_DIR
    aws_region: str = "us-east-1"
    bedrock_endpoint_url: str | None = None
    bedrock_max_attempts: int = 3
    bedrock_read_timeout_seconds: float = 120.0
    bedrock_max_concurrency: int = 2048
    bedrock: tuple[BedrockRegion, ...] = ()
    routes: tuple[RouteSpec, ...] = ()
    bedrock_connect_timeout_seconds: float = 5.0
    bedrock_first_byte_timeout_seconds: float = 60.0
    bedrock_idle_timeout_seconds: float = 30.0
    bedrock_total_timeout_seconds: float = 600.0
    bedrock_backoff_base_seconds: float = 0.1
    bedrock_backoff_max_seconds: float = 5.0
    breaker_failures: int = 5
    breaker_failure_rate: float = 0.5
    breaker_window_seconds: float = 30.0
    breaker_min_requests: int = 20
    breaker_cooldown_seconds: float = 30.0
    grpc_listen: ListenAddress = ListenAddress("127.0.0.1", 50051)
    http_listen: ListenAddress = ListenAddress("127.0.0.1", 8080)
    max_body_bytes: int = 20 * 1024 * 1024
    server_secret: str | None = None
    key_cache_seconds: float = 5.0
    shutdown_grace_seconds: float = 10.0
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_ca_file: Path | None = None
    oidc_issuers: tuple[OidcIssuer, ...] = ()
    jwt_leeway_seconds: float = 30.0
    jwks_cache_seconds: float = 3600.0
    jwks_min_refresh_seconds: float = 30.0
    default_rpm: int = 0
    default_tpm: int = 0
    metrics_listen: ListenAddress | None = None
    log_format: LogFormat = "json"
    max_json_depth: int = 64
    max_json_string_chars: int = 8 * 1024 * 1024
    max_chat_messages: int = 4096
    http_header_timeout_seconds: float = 10.0
    http_body_timeout_seconds: float = 60.0
    http_keepalive_seconds: float = 5.0
    http_max_header_bytes: int = 32 * 1024
    http_max_connections: int = 1000
    grpc_handshake_timeout_seconds: float = 10.0
    grpc_idle_seconds: float = 300.0
    grpc_max_connection_age_seconds: float = 3600.0
    grpc_max_connection_age_grace_seconds: float = 600.0
    grpc_keepalive_seconds: float = 60.0
    grpc_keepalive_timeout_seconds: float = 20.0
    grpc_min_ping_interval_seconds: float = 10.0
    grpc_max_ping_strikes: int = 2
    grpc_max_concurrent_streams: int = 1000
    grpc_max_metadata_bytes: int = 16 * 1024
    max_concurrent_calls: int = 4096
    reservation_lease_seconds: float = 120.0
    drop_unsupported_params: bool = False
    default_max_tokens: int = 8192
    thinking_budget_low: int = 1024
    thinking_budget_medium: int = 4096
    thinking_budget_high: int = 16384
    thinking_budget_xhigh: int = 32768
    application_profiles: tuple[ApplicationProfile, ...] = ()
    workers: int = field(default_factory=lambda: available_cpus())

    @classmethod
    def load(
        cls,
        config_file: Path | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: object,
    ) -> Settings:
        """Read the TOML file (if any), then the environment, then explicit overrides.

        Raises SettingsError naming the first bad or unknown setting.
        """
        environ = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        if config_file is not None:
            try:
                raw.update(tomllib.loads(config_file.read_text(encoding="utf-8")))
            except OSError as exc:
                raise SettingsError(f"config file {config_file}: {exc.strerror}") from None
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"config file {config_file}: {exc}") from None
        known = set(_PARSERS)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SettingsError(f"config file {config_file}: unknown setting {unknown[0]!r}")
        sources = dict.fromkeys(raw, "config file")
        for name in known:
            env_name = ENV_PREFIX + name.upper()
            if env_name in environ:
                raw[name] = environ[env_name]
                sources[name] = "environment"
        raw.update(overrides)
        values: dict[str, Any] = {}
        for name, value in raw.items():
            try:
                values[name] = _PARSERS[name](value)
            except ValueError as exc:
                where = sources.get(name, "argument")
                raise SettingsError(f"{ENV_PREFIX}{name.upper()} ({where}): {exc}") from None
        settings = cls(**values)
        if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
            raise SettingsError("LLMGW_TLS_CERT_FILE and LLMGW_TLS_KEY_FILE must be set together")
        settings._check_routing()
        return settings

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region the gateway calls: AWS_REGION (the default) and each `[bedrock.regions.*]` table."""
        names = [region.name for region in self.bedrock]
        return tuple(dict.fromkeys([self.aws_region, *names]))

    def _check_routing(self) -> None:
        """Routes name declared regions; the backoff and breaker settings agree with each other."""
        known = set(self.regions)
        for route in self.routes:
            for target in route.targets:
                if target.region not in known:
                    raise SettingsError(
                        f"LLMGW_ROUTES: route {route.model!r} names the unknown region {target.region!r} "
                        f"(declared: {', '.join(sorted(known))})"
                    )
        if self.bedrock_backoff_max_seconds < self.bedrock_backoff_base_seconds:
            raise SettingsError("LLMGW_BEDROCK_BACKOFF_MAX_SECONDS must be at least LLMGW_BEDROCK_BACKOFF_BASE_SECONDS")
        if not 0 < self.breaker_failure_rate <= 1:
            raise SettingsError(
                f"LLMGW_BREAKER_FAILURE_RATE: expected a share above 0 and at most 1, got {self.breaker_failure_rate}"
            )

    def is_admin(self, user: str) -> bool:
        """Whether `user` is in ADMIN_LIST."""
        return user in self.admin_list


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's cpuset): WORKERS' default."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# How each setting's raw value (TOML value or environment string) is parsed.
_PARSERS: dict[str, Callable[[object], object]] = {
    "admin_list": _parse_list,
    "default_quota_frequency": _parse_frequency,
    "default_quota_dollars": _parse_dollars,
    "default_model_access": _parse_list,
    "debug": _parse_bool,
    "benchmark_mode": _parse_bool,
    "database_url": _database_url,
    "data_dir": _path,
    "aws_region": _text,
    "bedrock_endpoint_url": _optional_text,
    "bedrock_max_attempts": _positive_int,
    "bedrock_read_timeout_seconds": _positive_float,
    "bedrock_max_concurrency": _positive_int,
    "bedrock": parse_regions,
    "routes": parse_routes,
    "bedrock_connect_timeout_seconds": _positive_float,
    "bedrock_first_byte_timeout_seconds": _positive_float,
    "bedrock_idle_timeout_seconds": _positive_float,
    "bedrock_total_timeout_seconds": _positive_float,
    "bedrock_backoff_base_seconds": _non_negative_float,
    "bedrock_backoff_max_seconds": _non_negative_float,
    "breaker_failures": _positive_int,
    "breaker_failure_rate": _positive_float,
    "breaker_window_seconds": _positive_float,
    "breaker_min_requests": _positive_int,
    "breaker_cooldown_seconds": _positive_float,
    "grpc_listen": _parse_listen,
    "http_listen": _parse_listen,
    "max_body_bytes": _positive_int,
    "server_secret": _optional_text,
    "key_cache_seconds": _positive_float,
    "shutdown_grace_seconds": _positive_float,
    "tls_cert_file": _optional_file,
    "tls_key_file": _optional_file,
    "tls_ca_file": _optional_file,
    "oidc_issuers": _parse_issuers,
    "jwt_leeway_seconds": _non_negative_float,
    "jwks_cache_seconds": _positive_float,
    "jwks_min_refresh_seconds": _non_negative_float,
    "default_rpm": _non_negative_int,
    "default_tpm": _non_negative_int,
    "metrics_listen": _optional_listen,
    "log_format": _log_format,
    "max_json_depth": _positive_int,
    "max_json_string_chars": _positive_int,
    "max_chat_messages": _positive_int,
    "http_header_timeout_seconds": _positive_float,
    "http_body_timeout_seconds": _positive_float,
    "http_keepalive_seconds": _positive_float,
    "http_max_header_bytes": _positive_int,
    "http_max_connections": _positive_int,
    "grpc_handshake_timeout_seconds": _positive_float,
    "grpc_idle_seconds": _positive_float,
    "grpc_max_connection_age_seconds": _positive_float,
    "grpc_max_connection_age_grace_seconds": _positive_float,
    "grpc_keepalive_seconds": _positive_float,
    "grpc_keepalive_timeout_seconds": _positive_float,
    "grpc_min_ping_interval_seconds": _non_negative_float,
    "grpc_max_ping_strikes": _non_negative_int,
    "grpc_max_concurrent_streams": _positive_int,
    "grpc_max_metadata_bytes": _positive_int,
    "max_concurrent_calls": _positive_int,
    "reservation_lease_seconds": _positive_float,
    "drop_unsupported_params": _parse_bool,
    "default_max_tokens": _positive_int,
    "thinking_budget_low": _thinking_budget,
    "thinking_budget_medium": _thinking_budget,
    "thinking_budget_high": _thinking_budget,
    "thinking_budget_xhigh": _thinking_budget,
    "application_profiles": _parse_application_profiles,
    "workers": _positive_int,
}
