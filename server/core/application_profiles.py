"""Application inference profiles: ARNs an admin registered, each standing for a catalog model.

An AWS application inference profile (`arn:aws:bedrock:REGION:ACCOUNT:application-
inference-profile/ID`) wraps a model or a system profile with cost-allocation tags.
Bedrock bills it as the model it wraps but says nothing of that in the ARN, so the
gateway needs it said once: the APPLICATION_PROFILES setting pairs each ARN with its
base catalog id. The ARN is then callable as a public model id (and usable as a
route target); prices, capabilities and thinking rules are the base model's, while the
ARN is what goes to Bedrock and into the request log.

`ModelDirectory.resolve` is the one lookup for both kinds of id, so a router can
call it for each target.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from llmgw.server.core.catalog import Catalog, CatalogModel

ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:application-inference-profile/[a-z0-9]+$")


@dataclass(frozen=True, slots=True)
class ApplicationProfile:
    """One registered application inference profile: its ARN and the catalog id it is priced as."""

    arn: str
    model: str


@dataclass(frozen=True, slots=True)
class Resolved:
    """A callable id resolved: the catalog model that prices and checks it, and the id sent to Bedrock."""

    model: CatalogModel
    upstream_id: str


class ModelDirectory:
    """Catalog ids and registered application-profile ARNs, looked up by the id a caller or route names."""

    def __init__(self, catalog: Catalog, profiles: Iterable[ApplicationProfile] = ()) -> None:
        self.catalog = catalog
        self._profiles: dict[str, str] = {}
        for profile in profiles:
            if profile.model not in catalog:
                raise ValueError(
                    f"application profile {profile.arn}: base model {profile.model!r} is not in the catalog"
                )
            self._profiles[profile.arn] = profile.model

    def resolve(self, model_id: str) -> Resolved:
        """The catalog model and upstream id for `model_id`; ModelNotFound (from the catalog) when unknown."""
        base = self._profiles.get(model_id)
        if base is None:
            model = self.catalog.get(model_id)
            return Resolved(model, model.id)
        return Resolved(self.catalog.get(base), model_id)

    def profiles(self) -> Iterator[Resolved]:
        """Every registered profile whose base model is served today, as (base model, ARN), by ARN."""
        served = {model.id for model in self.catalog.served()}
        for arn, base in sorted(self._profiles.items()):
            if base in served:
                yield Resolved(self.catalog.get(base), arn)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._profiles or model_id in self.catalog
