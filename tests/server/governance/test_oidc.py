"""SSO bearer tokens: JWTs signed by keys made here, served from a JWKS endpoint on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.governance.roles import user_name_for, validate_user_name
from llmgw.server.store.models import RequestRecord
from llmgw.v1 import (
    chat_pb2,
    chat_service_pb2,
    chat_service_pb2_grpc,
    key_service_pb2,
    key_service_pb2_grpc,
    quota_pb2,
    quota_service_pb2,
    quota_service_pb2_grpc,
)
from tests.model_ids import HAIKU
from tests.support import GatewayThread, bearer, gateway_settings

AUDIENCE = "llmgw-test"
ADMIN_GROUP = "gw-admins"


def new_key() -> rsa.RSAPrivateKey:
    """A fresh RSA signing key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """The JWK of the key's public half."""
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


@dataclass
class IdentityProvider:
    """A tiny OIDC issuer: discovery document and JWKS over HTTP, keys it signs tokens with."""

    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    jwks_fetches: int = 0
    url: str = ""

    def token(self, kid: str = "k1", *, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        """A signed token for `alice@example.com`, with claims overridden as given."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "user-123",
            "email": "alice@example.com",
            "iat": now,
            "exp": now + 600,
        }
        body.update(claims)
        return jwt.encode(body, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})


class _Handler(BaseHTTPRequestHandler):
    provider: IdentityProvider

    def do_GET(self) -> None:
        provider = self.server.provider  # type: ignore[attr-defined]
        if self.path == "/.well-known/openid-configuration":
            document: dict[str, Any] = {"issuer": provider.url, "jwks_uri": f"{provider.url}/jwks"}
        elif self.path == "/jwks":
            provider.jwks_fetches += 1
            document = {"keys": [public_jwk(provider.keys[kid], kid) for kid in provider.published]}
        else:
            self.send_error(404)
            return
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    """The identity provider on a free loopback port, publishing key k1."""
    provider = IdentityProvider(keys={"k1": new_key()}, published=["k1"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.provider = provider  # type: ignore[attr-defined]
    provider.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def sso_gateway(
    idp: IdentityProvider, fake_bedrock: FakeBedrockServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayThread]:
    """A gateway trusting the identity provider (discovered JWKS, email as username, a group for admins)."""
    issuer = {
        "issuer": idp.url,
        "audience": AUDIENCE,
        "username_claim": "email",
        "admin_group_claim": "groups",
        "admin_group": ADMIN_GROUP,
    }
    settings = gateway_settings(
        tmp_path_factory.mktemp("sso"), fake_bedrock.url, oidc_issuers=[issuer], jwks_min_refresh_seconds=0
    )
    running = GatewayThread(settings).start()
    try:
        yield running
    finally:
        running.stop()


def chat_request() -> chat_service_pb2.CreateChatCompletionRequest:
    """A small unary chat request."""
    message = chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text="hello")])
    return chat_service_pb2.CreateChatCompletionRequest(
        params=chat_pb2.ChatCompletionParams(model=HAIKU, messages=[message])
    )


def refusal(gateway: GatewayThread, token: str) -> grpc.RpcError:
    """The error a chat call with this token fails with."""
    with gateway.channel() as channel, pytest.raises(grpc.RpcError) as failed:
        chat_service_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(chat_request(), metadata=bearer(token))
    return failed.value


def test_valid_token_chats_and_creates_a_key_that_works(sso_gateway: GatewayThread, idp: IdentityProvider) -> None:
    """A valid token chats as its email user (recorded with an sso: key name) and may create a key."""
    token = idp.token()
    with sso_gateway.channel() as channel:
        reply = chat_service_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(
            chat_request(), metadata=bearer(token)
        )
        assert reply.completion.choices[0].message.content
        created = key_service_pb2_grpc.KeyServiceStub(channel).CreateKey(
            key_service_pb2.CreateKeyRequest(name="from-sso"), metadata=bearer(token)
        )
        assert created.key.user == "alice@example.com"
        chat_service_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(
            chat_request(), metadata=bearer(created.secret)
        )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        names = [row.key_name for row in RequestRecord.select().where(RequestRecord.user == "alice@example.com")]
        if len(names) == 2:
            break
        time.sleep(0.02)
    assert sorted(names) == ["from-sso", "sso:127.0.0.1"]


def _none_token(idp: IdentityProvider) -> str:
    now = int(time.time())
    claims = {"iss": idp.url, "aud": AUDIENCE, "email": "mallory@example.com", "exp": now + 600}
    return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]


def _hs256_token(idp: IdentityProvider) -> str:
    now = int(time.time())
    claims = {"iss": idp.url, "aud": AUDIENCE, "email": "mallory@example.com", "exp": now + 600}
    return jwt.encode(claims, "a-shared-secret-of-32-bytes-or-more!", algorithm="HS256", headers={"kid": "k1"})


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired", "expired"),
        ("not yet valid", "not valid yet"),
        ("wrong issuer", "wrong issuer"),
        ("wrong audience", "wrong audience"),
        ("bad signature", "bad signature"),
        ("alg none", "algorithm 'none' not allowed"),
        ("alg HS256", "algorithm 'HS256' not allowed"),
        ("unknown kid", "signing key 'nope' is unknown"),
        ("malformed", "malformed"),
    ],
)
def test_bad_tokens_are_unauthenticated_with_the_reason(
    sso_gateway: GatewayThread, idp: IdentityProvider, case: str, reason: str
) -> None:
    """Each kind of bad token is refused with UNAUTHENTICATED and a message saying why."""
    now = int(time.time())
    makers: dict[str, Callable[[], str]] = {
        "expired": lambda: idp.token(exp=now - 3600, iat=now - 7200),
        "not yet valid": lambda: idp.token(nbf=now + 3600),
        "wrong issuer": lambda: idp.token(iss="https://elsewhere.example.com"),
        "wrong audience": lambda: idp.token(aud="another-app"),
        "bad signature": lambda: idp.token(key=new_key()),
        "alg none": lambda: _none_token(idp),
        "alg HS256": lambda: _hs256_token(idp),
        "unknown kid": lambda: idp.token("nope", key=idp.keys["k1"]),
        "malformed": lambda: "abc.def.ghi",
    }
    token = makers[case]()
    error = refusal(sso_gateway, token)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason in (error.details() or "")
    assert "Traceback" not in (error.details() or "")


def test_rotated_key_is_fetched_and_accepted(sso_gateway: GatewayThread, idp: IdentityProvider) -> None:
    """After the issuer rotates to a new key, its tokens work once the gateway refetches the JWKS."""
    with sso_gateway.channel() as channel:
        stub = chat_service_pb2_grpc.ChatServiceStub(channel)
        stub.CreateChatCompletion(chat_request(), metadata=bearer(idp.token("k1")))
        fetches = idp.jwks_fetches
        idp.keys["k2"] = new_key()
        idp.published = ["k2"]
        stub.CreateChatCompletion(chat_request(), metadata=bearer(idp.token("k2")))
    assert idp.jwks_fetches == fetches + 1
    error = refusal(sso_gateway, idp.token("k3", key=new_key()))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "unknown" in (error.details() or "")


def test_admin_group_claim_makes_an_admin(sso_gateway: GatewayThread, idp: IdentityProvider) -> None:
    """A token whose groups claim holds the admin group may call admin RPCs; without it, PERMISSION_DENIED."""
    idp.published = sorted(idp.keys)
    request = quota_service_pb2.GetQuotaRequest(user="someone-else")
    with sso_gateway.channel() as channel:
        quotas = quota_service_pb2_grpc.QuotaServiceStub(channel)
        admin = idp.token(email="boss@example.com", groups=["staff", ADMIN_GROUP])
        assert quotas.GetQuota(request, metadata=bearer(admin)).quota.user == "someone-else"
        with pytest.raises(grpc.RpcError) as denied:
            quotas.GetQuota(request, metadata=bearer(idp.token(groups=["staff"])))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_issuers_parse_from_the_environment_form(tmp_path: Path) -> None:
    """LLMGW_OIDC_ISSUERS takes a TOML inline array of tables; a HS* algorithm stops start-up."""
    from llmgw.server.settings import Settings, SettingsError

    text = '[{issuer = "https://login.example.com", audience = ["a", "b"], username_claim = "email"}]'
    [issuer] = Settings.load(environ={"LLMGW_OIDC_ISSUERS": text}).oidc_issuers
    assert (issuer.audience, issuer.username_claim, issuer.jwks_uri) == (("a", "b"), "email", None)
    bad = '[{issuer = "https://login.example.com", audience = "a", algorithms = ["HS256"]}]'
    with pytest.raises(SettingsError, match=r"LLMGW_OIDC_ISSUERS.*HS256"):
        Settings.load(environ={"LLMGW_OIDC_ISSUERS": bad})


def test_sso_identity_with_a_space_is_governable(sso_gateway: GatewayThread, idp: IdentityProvider) -> None:
    """'Alice Smith' signs in, chats, and an admin sets her quota as 'Alice~20Smith': the next chat is refused."""
    token = idp.token(email="Alice Smith")
    admin = sso_gateway.create_key("root", "sso-admin")
    with sso_gateway.channel() as channel:
        chat = chat_service_pb2_grpc.ChatServiceStub(channel)
        quotas = quota_service_pb2_grpc.QuotaServiceStub(channel)
        chat.CreateChatCompletion(chat_request(), metadata=bearer(token))
        status = quotas.GetQuotaStatus(quota_service_pb2.GetQuotaStatusRequest(user="me"), metadata=bearer(token))
        assert status.status.user == "Alice~20Smith"
        quotas.SetQuota(
            quota_service_pb2.SetQuotaRequest(
                user="Alice~20Smith", frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd="0"
            ),
            metadata=bearer(admin),
        )
        with pytest.raises(grpc.RpcError) as refused:
            chat.CreateChatCompletion(chat_request(), metadata=bearer(token))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        listed = quotas.GetQuota(quota_service_pb2.GetQuotaRequest(user="Alice~20Smith"), metadata=bearer(admin))
        assert (listed.quota.user, listed.quota.limit_usd) == ("Alice~20Smith", "0")


def test_user_name_for_is_one_to_one() -> None:
    """Plain names are unchanged; others are escaped byte by byte, '~' included, so no two identities collide."""
    assert user_name_for("alice@example.com") == "alice@example.com"
    assert user_name_for("Alice Smith") == "Alice~20Smith"
    assert user_name_for("zoë") == "zo~C3~AB"
    assert user_name_for("a~20b") == "a~7E20b"
    assert validate_user_name(user_name_for("Ünïcode / name")) == "~C3~9Cn~C3~AFcode~20~2F~20name"
    with pytest.raises(ValueError, match="255"):
        user_name_for("é" * 100)
