"""AWS Signature Version 4 for the requests the gateway sends Bedrock: a POST with a body, no query.

Why not botocore's `SigV4Auth`, which signed every call until now: it is written for every
AWS request shape, and for ours it spends most of its time building email-module header
containers and re-parsing the URL, twice per call, then derives the signing key with four
HMACs (about 190 µs per call on the benchmark machine, 6-9% of a short stream's CPU;
bench/RESULTS.md). This signer knows the host, region and service up front, keeps the
day's signing key, and builds the canonical request from a plain dict: the same
Authorization header, byte for byte, which tests/server/providers/bedrock/test_signing.py
checks against `SigV4Auth` on generated requests. botocore still supplies the credentials
(and their refreshes) and the list of headers that are never signed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from botocore.auth import SIGNED_HEADERS_BLACKLIST
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import NoCredentialsError
from botocore.utils import normalize_url_path

_ALGORITHM = "AWS4-HMAC-SHA256"
_UNSIGNED = frozenset(SIGNED_HEADERS_BLACKLIST)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_header(url: str) -> str:
    """The Host value SigV4 signs for `url`: lowercase, no user info, the port only when not the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


@functools.lru_cache(maxsize=1024)
def _canonical_path(path: str) -> str:
    """The path as SigV4 canonicalises it outside S3: dot segments removed, then percent-encoded again."""
    return quote(normalize_url_path(path), safe="/~")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


class RequestSigner:
    """Signs POSTs to one endpoint for one region and service; keeps the signing key of the day."""

    def __init__(self, endpoint_url: str, region: str, service: str) -> None:
        self._host = host_header(endpoint_url)
        self._base_path = urlsplit(endpoint_url).path.rstrip("/")
        self._region = region
        self._service = service
        self._scope_tail = f"/{region}/{service}/aws4_request"
        self._key: tuple[str, str, bytes] = ("", "", b"")

    def _signing_key(self, secret_key: str, day: str) -> bytes:
        """The key derived from the secret for `day` (YYYYMMDD); derived once per day and secret."""
        cached_secret, cached_day, key = self._key
        if cached_secret != secret_key or cached_day != day:
            key = _hmac(f"AWS4{secret_key}".encode(), day)
            for part in (self._region, self._service, "aws4_request"):
                key = _hmac(key, part)
            self._key = (secret_key, day, key)
        return key

    def sign(
        self,
        credentials: ReadOnlyCredentials,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        now: float | None = None,
    ) -> dict[str, str]:
        """`headers` plus X-Amz-Date, the session token if any, and Authorization, for a POST of `body` to `path`.

        `path` follows the endpoint's own path, if any, and is already percent-encoded; `now`
        (seconds since the epoch) is for tests. Raises NoCredentialsError without a secret key.
        """
        if credentials.secret_key is None:
            raise NoCredentialsError
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        signed = dict(headers)
        signed["X-Amz-Date"] = stamp
        if credentials.token:
            signed["X-Amz-Security-Token"] = credentials.token
        canonical: dict[str, list[str]] = {"host": [self._host]} if "host" not in map(str.lower, signed) else {}
        for name, value in signed.items():
            lowered = name.lower()
            if lowered not in _UNSIGNED:
                canonical.setdefault(lowered, []).append(" ".join(value.split()))
        names = sorted(canonical)
        signed_names = ";".join(names)
        canonical_request = "\n".join(
            (
                "POST",
                _canonical_path(self._base_path + path),
                "",
                "".join(f"{name}:{','.join(canonical[name])}\n" for name in names),
                signed_names,
                hashlib.sha256(body).hexdigest(),
            )
        )
        day = stamp[:8]
        scope = day + self._scope_tail
        string_to_sign = f"{_ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        signature = hmac.new(
            self._signing_key(credentials.secret_key, day), string_to_sign.encode(), hashlib.sha256
        ).hexdigest()
        signed["Authorization"] = (
            f"{_ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )
        return signed
