"""The catalog against Bedrock's own lists: what it lacks, what changed lifecycle, which profiles are new.

`llmgw catalog check` reads ListFoundationModels and ListInferenceProfiles in each
configured region (providers/bedrock/control_plane.py) and hands them here. Drift is:
- a model Bedrock lists that the gateway could serve (text or embedding output, on
  demand or through a profile) and the catalog lacks;
- a lifecycle change: Bedrock's Active/Legacy status or end-of-life date differs from
  the catalog's, a model the catalog has retired is still listed, or a model the
  catalog serves is listed in none of the checked regions;
- a system-defined inference profile the catalog lacks.
Catalog profiles a region does not list are not drift: profiles are regional (an
`eu.` profile is listed only in EU regions).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from llmgw.server.core.catalog import Catalog, CatalogModel

_SERVABLE_OUTPUTS = frozenset({"TEXT", "EMBEDDING"})
_SERVABLE_INFERENCE = frozenset({"ON_DEMAND", "INFERENCE_PROFILE"})
_STATUS = {"active": "ACTIVE", "legacy": "LEGACY"}


@dataclass(frozen=True, slots=True)
class ListedModel:
    """One foundation model as ListFoundationModels describes it."""

    model_id: str
    name: str
    provider: str
    outputs: frozenset[str]
    inference_types: frozenset[str]
    status: str
    end_of_life: date | None = None

    @property
    def servable(self) -> bool:
        """Whether the gateway could serve it: text or embedding output, on demand or through a profile."""
        return bool(self.outputs & _SERVABLE_OUTPUTS) and bool(self.inference_types & _SERVABLE_INFERENCE)


@dataclass(frozen=True, slots=True)
class RegionListing:
    """What Bedrock lists in one region: foundation models and system-defined inference-profile ids."""

    region: str
    models: tuple[ListedModel, ...]
    profile_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RegionDrift:
    """The differences found in one region, each a line a person can act on."""

    region: str
    missing: tuple[str, ...]
    lifecycle: tuple[str, ...]
    profiles: tuple[str, ...]

    @property
    def found(self) -> bool:
        """Whether anything differs."""
        return bool(self.missing or self.lifecycle or self.profiles)


def _bases(catalog: Catalog) -> dict[str, CatalogModel]:
    """One model per base id (its lifecycle is the same on every profile)."""
    bases: dict[str, CatalogModel] = {}
    for model in catalog:
        bases.setdefault(model.base_id, model)
    return bases


def compare_region(catalog: Catalog, listing: RegionListing, today: date) -> RegionDrift:
    """The drift between the catalog and one region's lists."""
    bases = _bases(catalog)
    missing = tuple(
        f"{listed.model_id} ({listed.name}, {listed.provider}; {', '.join(sorted(listed.inference_types))})"
        for listed in sorted(listing.models, key=lambda m: m.model_id)
        if listed.servable and listed.model_id not in bases
    )
    lifecycle = tuple(
        line
        for listed in sorted(listing.models, key=lambda m: m.model_id)
        if listed.model_id in bases
        for line in _lifecycle_changes(bases[listed.model_id], listed, today)
    )
    profiles = tuple(sorted(profile for profile in listing.profile_ids if profile not in catalog))
    return RegionDrift(listing.region, missing, lifecycle, profiles)


def _lifecycle_changes(model: CatalogModel, listed: ListedModel, today: date) -> Iterable[str]:
    ours = model.lifecycle
    if model.retired_on(today):
        yield f"{listed.model_id}: the catalog retired it on {ours.end_of_life}, Bedrock still lists it {listed.status}"
        return
    if _STATUS[ours.state] != listed.status:
        yield f"{listed.model_id}: the catalog says {_STATUS[ours.state]}, Bedrock says {listed.status}"
    if listed.end_of_life is not None and listed.end_of_life != ours.end_of_life:
        said = ours.end_of_life or "none"
        yield f"{listed.model_id}: end of life {listed.end_of_life} on Bedrock, {said} in the catalog"


def unlisted(catalog: Catalog, listings: Sequence[RegionListing], today: date) -> tuple[str, ...]:
    """Catalog models still served that none of the checked regions lists (retired, or offered elsewhere)."""
    listed = {model.model_id for listing in listings for model in listing.models}
    return tuple(
        f"{base_id}: served by the catalog, listed in none of {', '.join(listing.region for listing in listings)}"
        for base_id, model in sorted(_bases(catalog).items())
        if base_id not in listed and not model.retired_on(today)
    )
