"""The route table: each public model id's targets and fallbacks, checked against the catalog at start-up.

A public id without a route is called as itself in the default region (AWS_REGION). A target
may also be a registered application inference profile (APPLICATION_PROFILES): its ARN is
sent, and it is priced as its base model.
An embedding model's route may only move it between regions: its vectors must keep
their family and size, so every target is the same model and there are no fallbacks.
A route's target is priced by the catalog entry of the id it calls (a `global.` profile
costs less than `us.` for newer Claude models), so every target id must be in the
catalog, and of the same kind (chat or embedding) as the public id. Anything unknown
stops start-up with SettingsError naming it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from llmgw.server.core.application_profiles import ModelDirectory
from llmgw.server.core.catalog import CatalogModel
from llmgw.server.routing_config import RouteSpec
from llmgw.server.settings import SettingsError


@dataclass(frozen=True, slots=True)
class Target:
    """A region and the catalog entry of the Bedrock id called there (its price is what an answer costs).

    `upstream_id` is the id sent instead of the catalog id: an application inference
    profile's ARN, priced as its base model (`model`).
    """

    region: str
    model: CatalogModel
    upstream_id: str = ""

    @property
    def called_id(self) -> str:
        """The model id Bedrock is called with at this target."""
        return self.upstream_id or self.model.id


@dataclass(frozen=True, slots=True)
class Route:
    """The targets of a public model id, in order, and the public ids to fall back to."""

    model: str
    targets: tuple[Target, ...]
    fallbacks: tuple[str, ...] = ()


class RouteTable:
    """Routes by public model id; raises SettingsError for a route naming an unknown model id."""

    def __init__(self, models: ModelDirectory, specs: Sequence[RouteSpec], default_region: str) -> None:
        self._models = models
        self._catalog = models.catalog
        self.default_region = default_region
        self._routes: dict[str, Route] = {}
        for spec in specs:
            public = self._known(spec.model, spec.model, "the route's model")
            targets = tuple(self._target(target.region, target.model, spec.model, public) for target in spec.targets)
            for fallback in spec.fallbacks:
                self._known(fallback, spec.model, "fallback", public)
            if public.kind == "embedding":
                _check_embedding_route(public, targets, spec.fallbacks)
            self._routes[spec.model] = Route(spec.model, targets, spec.fallbacks)

    def _known(self, model_id: str, route: str, what: str, like: CatalogModel | None = None) -> CatalogModel:
        if model_id not in self._catalog:
            raise SettingsError(f"LLMGW_ROUTES: route {route!r}: {what} {model_id!r} is not a model id of the catalog")
        model = self._catalog.get(model_id)
        if like is not None and model.kind != like.kind:
            raise SettingsError(
                f"LLMGW_ROUTES: route {route!r}: {what} {model_id!r} is of kind {model.kind}, "
                f"the route's model of kind {like.kind}"
            )
        return model

    def _target(self, region: str, model_id: str, route: str, public: CatalogModel) -> Target:
        """A route's target: a catalog id, or a registered application profile's ARN priced as its base."""
        if model_id in self._catalog or model_id not in self._models:
            return Target(region, self._known(model_id, route, "target", public))
        resolved = self._models.resolve(model_id)
        self._known(resolved.model.id, route, "target", public)
        return Target(region, resolved.model, resolved.upstream_id)

    def route(self, model: CatalogModel) -> Route:
        """The route of a public model (its own, or the model itself in the default region)."""
        configured = self._routes.get(model.id)
        if configured is not None:
            return configured
        return Route(model.id, (Target(self.default_region, model),))

    def __iter__(self) -> Iterator[Route]:
        """The configured routes, in the order of the settings."""
        return iter(self._routes.values())


def _check_embedding_route(public: CatalogModel, targets: tuple[Target, ...], fallbacks: tuple[str, ...]) -> None:
    """Embedding routes change the region only (another model would answer with other vectors)."""
    if fallbacks:
        raise SettingsError(f"LLMGW_ROUTES: route {public.id!r}: an embedding model cannot have fallbacks")
    for target in targets:
        if target.model.base_id != public.base_id:
            raise SettingsError(
                f"LLMGW_ROUTES: route {public.id!r}: target {target.model.id!r} is another embedding model"
            )
