"""Tests for llmgw.server.core.keys."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from llmgw.server.core.keys import (
    generate_api_key,
    hash_api_key,
    load_server_secret,
    looks_like_api_key,
)


def test_generated_keys_have_the_prefix_and_are_distinct() -> None:
    """Keys carry the sk-llmgw- prefix and 43 urlsafe characters, and never repeat."""
    keys = {generate_api_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith("sk-llmgw-")
        assert len(key) == len("sk-llmgw-") + 43
        assert looks_like_api_key(key)


@pytest.mark.parametrize(
    "candidate",
    ["", "sk-llmgw-", "sk-llmgw-short", "sk-other-" + "a" * 43, "sk-llmgw-" + "a" * 42 + "!", "sk-llmgw-" + "a" * 44],
)
def test_garbage_does_not_look_like_a_key(candidate: str) -> None:
    """Strings of the wrong shape are rejected without any lookup."""
    assert not looks_like_api_key(candidate)


def test_hash_is_a_keyed_hmac() -> None:
    """The stored hash is HMAC-SHA256 under the server secret, so another secret gives another hash."""
    secret = generate_api_key()
    digest = hash_api_key(secret, b"s" * 32)
    assert digest == hmac.new(b"s" * 32, secret.encode(), hashlib.sha256).hexdigest()
    assert digest != hash_api_key(secret, b"t" * 32)
    assert secret not in digest


def test_configured_secret_is_used(tmp_path: Path) -> None:
    """A configured secret wins and no file is written."""
    assert load_server_secret("x" * 40, tmp_path) == b"x" * 40
    assert not (tmp_path / "server-secret").exists()


def test_short_configured_secret_is_refused(tmp_path: Path) -> None:
    """A configured secret under 32 characters is refused, naming the setting."""
    with pytest.raises(ValueError, match="SERVER_SECRET"):
        load_server_secret("too-short", tmp_path)


def test_secret_file_is_created_private_and_reused(tmp_path: Path) -> None:
    """Without a setting, a 0600 file of 48 random bytes is created once and read back after."""
    data_dir = tmp_path / "data"
    first = load_server_secret(None, data_dir)
    path = data_dir / "server-secret"
    assert len(first) == 48
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_server_secret("", data_dir) == first
    assert [entry.name for entry in data_dir.iterdir()] == ["server-secret"]


def test_concurrent_creation_agrees_on_one_secret(tmp_path: Path) -> None:
    """Many starters racing to create the file all end up with the same secret."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = set(pool.map(lambda _: load_server_secret(None, tmp_path), range(32)))
    assert len(results) == 1


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_readable_secret_file_is_refused(tmp_path: Path, mode: int) -> None:
    """A secret file readable by group or others is refused, naming the path."""
    path = tmp_path / "server-secret"
    path.write_bytes(os.urandom(48))
    path.chmod(mode)
    with pytest.raises(ValueError, match=str(path)):
        load_server_secret(None, tmp_path)


def test_truncated_secret_file_is_refused(tmp_path: Path) -> None:
    """A secret file too short to be a real secret is refused, naming the path."""
    path = tmp_path / "server-secret"
    path.write_bytes(b"short")
    path.chmod(0o600)
    with pytest.raises(ValueError, match=str(path)):
        load_server_secret(None, tmp_path)
