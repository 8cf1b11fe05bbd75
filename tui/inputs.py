"""Validators and suggesters for the fields people type most: user names and model ids.

Suggesters read the Console live, so a user created or listed a moment ago is
offered at once; validators say what is wrong as the field is typed, in words that
name the field as the screen labels it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from textual.suggester import Suggester
from textual.validation import ValidationResult, Validator

MAX_USER_NAME = 255
_USER_NAME = re.compile(r"[A-Za-z0-9._@+-]+")
KEY_NAME_MAX = 64
_KEY_NAME = re.compile(r"[A-Za-z0-9._-]+")


class FromLive(Suggester):
    """Completes from a list that may grow while the screen is open (users, model ids)."""

    def __init__(self, values: Callable[[], list[str]]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._values = values

    async def get_suggestion(self, value: str) -> str | None:
        """The first value that starts with what was typed."""
        if not value:
            return None
        return next((known for known in sorted(self._values()) if known.startswith(value) and known != value), None)


class UserName(Validator):
    """A user name as the gateway accepts it: 1 to 255 of letters, digits, `.`, `_`, `@`, `+`, `-`."""

    def validate(self, value: str) -> ValidationResult:
        """Check one typed user name."""
        value = value.strip()
        if not value:
            return self.failure("Enter a user name.")
        if len(value) > MAX_USER_NAME:
            return self.failure(f"A user name has at most {MAX_USER_NAME} characters.")
        if not _USER_NAME.fullmatch(value):
            return self.failure("A user name uses only letters, digits, '.', '_', '@', '+' and '-'.")
        return self.success()


class KeyName(Validator):
    """A key name as the gateway accepts it: 1 to 64 of letters, digits, `.`, `_`, `-`."""

    def validate(self, value: str) -> ValidationResult:
        """Check one typed key name."""
        value = value.strip()
        if not value:
            return self.failure("Give the key a name.")
        if len(value) > KEY_NAME_MAX:
            return self.failure(f"A key name has at most {KEY_NAME_MAX} characters; this one has {len(value)}.")
        if not _KEY_NAME.fullmatch(value):
            return self.failure("A key name uses only letters, digits, '.', '_' and '-'.")
        return self.success()


class ModelPart(Validator):
    """Text some catalog model id contains, case ignored, as the log's model filter matches (blank: no filter)."""

    def __init__(self, models: Callable[[], list[str]]) -> None:
        super().__init__()
        self._models = models

    def validate(self, value: str) -> ValidationResult:
        """Check one typed model filter."""
        part = value.strip().lower()
        known = self._models()
        if not part or not known or any(part in model.lower() for model in known):
            return self.success()
        return self.failure(f"No model id of the catalog contains {value.strip()!r}.")
