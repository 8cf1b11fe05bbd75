"""The routing settings as data: regions (`[bedrock.regions.<name>]`) and routes (`[[routes]]`).

Parsed here, once, from the TOML values (or the same values as a TOML inline string
in the environment), so settings.py can name the setting in one line when one is bad.
Whether the model ids exist is checked later, against the catalog (table.py).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass

_REGION_NAME = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-\d")
_REGION_FIELDS = frozenset({"endpoint_url", "profile", "role_arn"})
_ROUTE_FIELDS = frozenset({"model", "targets", "fallbacks"})
_TARGET_FIELDS = frozenset({"region", "model"})


@dataclass(frozen=True, slots=True)
class BedrockRegion:
    """One region the gateway calls Bedrock in, and how.

    `endpoint_url` None means the region's public endpoint; `profile` (a named AWS
    profile) or `role_arn` (a role assumed with STS) choose the credentials, else
    boto3's default chain.
    """

    name: str
    endpoint_url: str | None = None
    profile: str | None = None
    role_arn: str | None = None


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """One place a route sends a request: a region and the Bedrock model or inference-profile id to call there."""

    region: str
    model: str


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """A public model id, its targets in order, and the public ids to fall back to when all of them fail."""

    model: str
    targets: tuple[TargetSpec, ...]
    fallbacks: tuple[str, ...] = ()


def _inline(raw: object, key: str) -> object:
    """A value given as a string (the environment) read as a TOML inline value."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if not text:
        return {} if key == "bedrock" else []
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"expected a TOML inline value: {exc}") from None


def _text(raw: object, what: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"{what} must be a non-empty string, got {raw!r}")
    return raw.strip()


def _region(name: str, raw: object) -> BedrockRegion:
    if not _REGION_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an AWS region name (like us-east-1)")
    if not isinstance(raw, dict):
        raise ValueError(f"region {name}: expected a table, got {raw!r}")
    unknown = sorted(set(raw) - _REGION_FIELDS)
    if unknown:
        raise ValueError(f"region {name}: unknown field {unknown[0]!r}")
    endpoint = raw.get("endpoint_url")
    if endpoint is not None and not _text(endpoint, f"region {name}: endpoint_url").startswith(("http://", "https://")):
        raise ValueError(f"region {name}: endpoint_url must be an http(s) URL, got {endpoint!r}")
    if "profile" in raw and "role_arn" in raw:
        raise ValueError(f"region {name}: give profile or role_arn, not both")
    role_arn = raw.get("role_arn")
    if role_arn is not None and not _text(role_arn, f"region {name}: role_arn").startswith("arn:aws"):
        raise ValueError(f"region {name}: role_arn must be an IAM role ARN, got {role_arn!r}")
    return BedrockRegion(
        name=name,
        endpoint_url=None if endpoint is None else str(endpoint).strip(),
        profile=None if "profile" not in raw else _text(raw["profile"], f"region {name}: profile"),
        role_arn=None if role_arn is None else str(role_arn).strip(),
    )


def parse_regions(raw: object) -> tuple[BedrockRegion, ...]:
    """The `[bedrock]` table: only `regions.<name>` tables are accepted."""
    value = _inline(raw, "bedrock")
    if not isinstance(value, dict):
        raise ValueError(f"expected a table with regions, got {value!r}")
    unknown = sorted(set(value) - {"regions"})
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (only [bedrock.regions.<name>] tables)")
    regions = value.get("regions", {})
    if not isinstance(regions, dict):
        raise ValueError(f"regions must be tables named by region, got {regions!r}")
    return tuple(_region(str(name), table) for name, table in regions.items())


def _target(raw: object, route: str) -> TargetSpec:
    if not isinstance(raw, dict):
        raise ValueError(f"route {route}: each target must be a table with region and model, got {raw!r}")
    unknown = sorted(set(raw) - _TARGET_FIELDS)
    if unknown or "region" not in raw or "model" not in raw:
        raise ValueError(f"route {route}: each target needs region and model, and nothing else")
    return TargetSpec(_text(raw["region"], f"route {route}: region"), _text(raw["model"], f"route {route}: model"))


def _route(raw: object) -> RouteSpec:
    if not isinstance(raw, dict):
        raise ValueError(f"each route must be a table, got {raw!r}")
    model = _text(raw.get("model"), "a route's model")
    unknown = sorted(set(raw) - _ROUTE_FIELDS)
    if unknown:
        raise ValueError(f"route {model}: unknown field {unknown[0]!r}")
    targets_raw = raw.get("targets")
    if not isinstance(targets_raw, list) or not targets_raw:
        raise ValueError(f"route {model}: targets must be a non-empty array")
    targets = tuple(_target(item, model) for item in targets_raw)
    if len(set(targets)) != len(targets):
        raise ValueError(f"route {model}: a target is listed twice")
    fallbacks_raw = raw.get("fallbacks", [])
    if not isinstance(fallbacks_raw, list):
        raise ValueError(f"route {model}: fallbacks must be an array of model ids")
    fallbacks = tuple(_text(item, f"route {model}: fallback") for item in fallbacks_raw)
    if model in fallbacks or len(set(fallbacks)) != len(fallbacks):
        raise ValueError(f"route {model}: fallbacks must be distinct and not the route's own model")
    return RouteSpec(model, targets, fallbacks)


def parse_routes(raw: object) -> tuple[RouteSpec, ...]:
    """The `[[routes]]` array; each public model id may have one route."""
    value = _inline(raw, "routes")
    if not isinstance(value, list):
        raise ValueError(f"expected an array of route tables, got {value!r}")
    routes = tuple(_route(item) for item in value)
    names = [route.model for route in routes]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate is not None:
        raise ValueError(f"the model {duplicate!r} has two routes")
    return routes
