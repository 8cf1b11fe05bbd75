"""Model-access policies: who may call which model, served from memory.

A user's policy is their own row (store/governance_repo.py) or, without one,
DEFAULT_MODEL_ACCESS; an empty default or `*` means every model of the catalog.
Policies are cached per user for `cache_seconds` (KEY_CACHE_SECONDS): a change
made through this replica invalidates its entry at once; another replica sees it
when its entry expires, so a policy change takes effect everywhere within
KEY_CACHE_SECONDS. Loads run on the database executor, never on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterable
from dataclasses import dataclass

from llmgw.server.settings import SettingsError
from llmgw.server.store import governance_repo
from llmgw.server.store.governance_repo import ALL_MODELS
from llmgw.server.store.runner import DatabaseRunner
from llmgw.wire.errors import InvalidArgument, ModelAccessDenied


@dataclass(frozen=True, slots=True)
class Access:
    """The models a user may call; `models` None means every model."""

    models: frozenset[str] | None
    is_default: bool

    def allows(self, model_id: str) -> bool:
        """Whether the model may be called."""
        return self.models is None or model_id in self.models

    def listed(self) -> list[str]:
        """The API form: sorted ids, or `*` alone for every model."""
        return [ALL_MODELS] if self.models is None else sorted(self.models)


def check_model_ids(catalog: Container[str], models: Iterable[str], field: str) -> tuple[str, ...]:
    """The ids, deduplicated, if all are known (or `*` alone); InvalidArgument naming the unknown ones."""
    ids = tuple(dict.fromkeys(models))
    if ALL_MODELS in ids:
        if len(ids) > 1:
            raise InvalidArgument(f"{field}: '*' (every model) must stand alone", field=field)
        return ids
    unknown = [model for model in ids if model not in catalog]
    if unknown:
        raise InvalidArgument(f"{field}: unknown model ids: {', '.join(unknown)}", field=field)
    return ids


def default_access(catalog: Container[str], configured: tuple[str, ...]) -> Access:
    """DEFAULT_MODEL_ACCESS as an Access; raises SettingsError naming the setting for unknown ids."""
    if not configured or configured == (ALL_MODELS,):
        return Access(None, True)
    try:
        ids = check_model_ids(catalog, configured, "LLMGW_DEFAULT_MODEL_ACCESS")
    except InvalidArgument as exc:
        raise SettingsError(exc.message) from None
    return Access(frozenset(ids), True)


def _access(models: tuple[str, ...]) -> Access:
    return Access(None if models == (ALL_MODELS,) else frozenset(models), False)


class ModelAccessCache:
    """Each user's Access, from memory when fresh (module docstring)."""

    def __init__(self, default: Access, db: DatabaseRunner, cache_seconds: float) -> None:
        self.default = default
        self._db = db
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[Access, float]] = {}

    async def access(self, user: str) -> Access:
        """The user's access now (cached up to cache_seconds)."""
        cached = self._cache.get(user)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        own = await self._db.run(lambda: governance_repo.get_model_access(user))
        access = self.default if own is None else _access(own)
        self._cache[user] = (access, time.monotonic() + self._cache_seconds)
        return access

    async def check(self, user: str, model_id: str) -> None:
        """Raise ModelAccessDenied unless the user may call the model."""
        if not (await self.access(user)).allows(model_id):
            raise ModelAccessDenied(f"You may not use the model '{model_id}'. Ask an admin for access.")

    def invalidate(self, user: str) -> None:
        """Forget the user's cached access, after a change made through this replica."""
        self._cache.pop(user, None)
