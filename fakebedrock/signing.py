"""Signed reasoning blocks: the fake signs the thinking it returns and checks it when it comes back.

Claude signs each thinking block; a client that sends the block back in a later turn
(as it must, in a tool loop with thinking) has to send it byte-identical, or Bedrock
answers 400. The fake does the same with an HMAC-SHA256 under a key of its own: a
signature is a nonce (derived from the request, so the same request is signed the same way
in Converse and ConverseStream) plus the MAC of nonce and thinking text, base64-encoded;
a redacted block is opaque bytes carrying its own MAC. Anything re-serialised,
trimmed or edited on the way fails verification.
"""

import base64
import binascii
import hashlib
import hmac
import secrets

from llmgw.fakebedrock.errors import invalid

_NONCE_BYTES = 16
_MAC_BYTES = 32
_REDACTED_PREFIX = b"fake-redacted-thinking:"


class ThinkingSigner:
    """Signs and verifies thinking blocks with one secret key (random per fake unless given)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def _mac(self, *parts: bytes) -> bytes:
        return hmac.new(self._key, b"\0".join(parts), hashlib.sha256).digest()

    def sign(self, text: str, seed: bytes) -> str:
        """The signature of `text` (the thinking exactly as returned, empty when hidden) for the request `seed`."""
        nonce = hashlib.blake2b(b"nonce" + seed, digest_size=_NONCE_BYTES).digest()
        return base64.b64encode(nonce + self._mac(b"thinking", nonce, text.encode())).decode()

    def redacted(self, seed: bytes) -> bytes:
        """An opaque redacted-thinking payload that only this signer can verify."""
        body = _REDACTED_PREFIX + seed
        return body + self._mac(b"redacted", body)

    def verify(self, where: str, text: str, signature: object) -> None:
        """Raise Bedrock's ValidationException unless `signature` is this signer's for `text`."""
        if not isinstance(signature, str) or not signature:
            raise invalid(f"{where}.signature: a thinking block sent back must carry its signature.")
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        nonce, mac = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, self._mac(b"thinking", nonce, text.encode())):
            raise invalid(f"{where}.signature: Invalid `signature` in `thinking` block.")

    def verify_redacted(self, where: str, data: bytes) -> None:
        """Raise Bedrock's ValidationException unless `data` is a redacted payload this signer made."""
        body, mac = data[:-_MAC_BYTES], data[-_MAC_BYTES:]
        if not body.startswith(_REDACTED_PREFIX) or not hmac.compare_digest(mac, self._mac(b"redacted", body)):
            raise invalid(f"{where}.redactedContent: Invalid `data` in `redacted_thinking` block.")
