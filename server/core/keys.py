"""API key secrets: how they are made, how they are stored, and the server secret behind that.

A key's secret is shown to its owner once and never stored. The database holds
only HMAC-SHA256(server secret, key secret): a keyed hash, so a copy of the
database alone neither reveals keys nor lets anyone test guesses against them.
The server secret comes from the settings or from a 0600 file in the data
directory, created on first start.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path

KEY_PREFIX = "sk-llmgw-"
SECRET_FILE_NAME = "server-secret"  # noqa: S105 (a file name, not a password)
MIN_SERVER_SECRET_CHARS = 32
_SECRET_BYTES = 32
_SERVER_SECRET_BYTES = 48
# 32 random bytes are 43 unpadded urlsafe base64 characters.
_KEY_PATTERN = re.compile(rf"{re.escape(KEY_PREFIX)}[A-Za-z0-9_-]{{43}}")


def generate_api_key() -> str:
    """A fresh API key secret: the prefix plus 256 random bits, safe in URLs and headers."""
    raw = secrets.token_bytes(_SECRET_BYTES)
    return KEY_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def hash_api_key(secret: str, server_secret: bytes) -> str:
    """The stored form of a key secret (hex HMAC-SHA256), the only way the database knows a key."""
    return hmac.new(server_secret, secret.encode("utf-8"), hashlib.sha256).hexdigest()


def looks_like_api_key(candidate: str) -> bool:
    """True when `candidate` has the shape of a key we issue; rejects garbage before any lookup."""
    return _KEY_PATTERN.fullmatch(candidate) is not None


def load_server_secret(configured: str | None, data_dir: Path) -> bytes:
    """The secret that keys the API-key hashes: from the setting, else from data_dir/server-secret.

    A configured value must be at least 32 characters. Without one, the file is read,
    or created with 48 random bytes and mode 0600 (atomically, so two processes
    starting together agree on one secret). A file readable by group or others is
    refused. Raises ValueError naming the setting or the path.
    """
    if configured:
        if len(configured) < MIN_SERVER_SECRET_CHARS:
            raise ValueError(f"SERVER_SECRET must be at least {MIN_SERVER_SECRET_CHARS} characters")
        return configured.encode("utf-8")
    path = data_dir / SECRET_FILE_NAME
    if not path.exists():
        _create_secret_file(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path} is readable by group or others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
    secret = path.read_bytes()
    if len(secret) < MIN_SERVER_SECRET_CHARS:
        raise ValueError(f"{path} holds fewer than {MIN_SERVER_SECRET_CHARS} bytes; delete it to make a new one")
    return secret


def _create_secret_file(path: Path) -> None:
    """Write a new secret to a private temporary file, then link it into place unless one won the race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(_SERVER_SECRET_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process created it first: keep theirs
            os.link(temporary, path)
    finally:
        temporary.unlink()
