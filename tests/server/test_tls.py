"""TLS on gRPC and HTTP with a CA and server certificate made here: clients with the CA get in, plain ones do not."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import grpc
import httpx2 as httpx
import openai
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from llmgw.bridge.app import create_app, serve_http
from llmgw.cli import build_parser
from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.serving import channel_credentials
from llmgw.tui.client import GatewayClient
from llmgw.v1 import chat_service_pb2, chat_service_pb2_grpc
from tests.bridge.conftest import LoopThread
from tests.chat_requests import params, user
from tests.model_ids import HAIKU
from tests.support import GatewayThread, bearer, gateway_settings


@dataclass
class Pki:
    """A CA certificate file, and a server certificate and key it signed for 127.0.0.1."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""
    folder = tmp_path_factory.mktemp("pki")
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("llmgw test CA"))
        .issuer_name(_name("llmgw test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return pki


@pytest.fixture(scope="module")
def tls_gateway(
    pki: Pki, fake_bedrock: FakeBedrockServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayThread]:
    """A gateway serving gRPC over TLS only."""
    settings = gateway_settings(
        tmp_path_factory.mktemp("tls"),
        fake_bedrock.url,
        tls_cert_file=str(pki.cert_file),
        tls_key_file=str(pki.key_file),
        tls_ca_file=str(pki.ca_file),
    )
    running = GatewayThread(settings).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def https_url(tls_gateway: GatewayThread, pki: Pki) -> Iterator[str]:
    """The bridge over HTTPS, reaching the gateway over TLS with the CA."""
    loop = LoopThread()
    credentials = channel_credentials(tls_gateway.settings, in_process=False)
    app = create_app(tls_gateway.grpc_target, channel_credentials=credentials)

    async def start() -> tuple[asyncio.Task[None], int]:
        ready = asyncio.Event()
        ports: list[int] = []
        server = serve_http(
            app,
            "127.0.0.1",
            0,
            ready=ready,
            on_bound=ports.append,
            ssl_certfile=pki.cert_file,
            ssl_keyfile=pki.key_file,
        )
        task = asyncio.create_task(server)
        await asyncio.wait_for(ready.wait(), 10)
        return task, ports[0]

    async def stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    task, port = loop.run(start())
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        loop.run(stop(task))
        loop.close()


def _request() -> chat_service_pb2.CreateChatCompletionRequest:
    return chat_service_pb2.CreateChatCompletionRequest(params=params(user("hello over tls")))


def test_grpc_client_with_the_ca_connects_and_plain_text_is_refused(tls_gateway: GatewayThread, pki: Pki) -> None:
    """A TLS channel trusting the CA chats; a plain-text channel cannot."""
    key = tls_gateway.create_key("tls-user", "grpc")
    credentials = grpc.ssl_channel_credentials(root_certificates=pki.ca_file.read_bytes())
    with grpc.secure_channel(tls_gateway.grpc_target, credentials) as channel:
        reply = chat_service_pb2_grpc.ChatServiceStub(channel).CreateChatCompletion(_request(), metadata=bearer(key))
    assert reply.completion.choices[0].message.content
    with grpc.insecure_channel(tls_gateway.grpc_target) as plain, pytest.raises(grpc.RpcError) as refused:
        chat_service_pb2_grpc.ChatServiceStub(plain).CreateChatCompletion(_request(), metadata=bearer(key), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_openai_sdk_with_the_ca_connects_and_plain_http_is_refused(
    tls_gateway: GatewayThread, https_url: str, pki: Pki
) -> None:
    """The OpenAI SDK over HTTPS with the CA gets an answer; plain HTTP and an untrusting client do not."""
    key = tls_gateway.create_key("tls-user", "sdk")
    trusting = ssl.create_default_context(cafile=str(pki.ca_file))
    with (
        httpx.Client(verify=trusting) as http_client,
        openai.OpenAI(base_url=f"{https_url}/v1", api_key=key, http_client=http_client, max_retries=0) as sdk,
    ):
        answer = sdk.chat.completions.create(model=HAIKU, messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content
    with httpx.Client(timeout=5) as plain, pytest.raises(httpx.TransportError):
        plain.get(https_url.replace("https://", "http://") + "/healthz")
    with httpx.Client(timeout=5) as untrusting, pytest.raises(httpx.ConnectError):
        untrusting.get(f"{https_url}/healthz")


async def test_tui_client_connects_with_the_ca(tls_gateway: GatewayThread, pki: Pki) -> None:
    """The terminal UI's client, given the CA (`llmgw tui --ca-file`), signs in over TLS."""
    key = tls_gateway.create_key("tls-user", "tui")
    client = GatewayClient(tls_gateway.grpc_target, key, pki.ca_file.read_bytes())
    try:
        identity = await client.identify()
    finally:
        await client.close()
    assert identity.user == "tls-user"


def test_tui_refuses_an_unreadable_ca_file(capsys: pytest.CaptureFixture[str]) -> None:
    """`llmgw tui --ca-file` with a missing file stops at argument parsing, naming the file."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["tui", "--ca-file", "/no/such/ca.pem"])
    assert exited.value.code == 2
    assert "/no/such/ca.pem" in capsys.readouterr().err
