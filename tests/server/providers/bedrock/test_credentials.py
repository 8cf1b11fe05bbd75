"""A region's credentials: a named AWS profile, or a role assumed through STS (a fake STS: the only AWS mocked)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.providers.bedrock.client import BedrockClient, BedrockClientConfig
from tests.model_ids import HAIKU

ROLE_ARN = "arn:aws:iam::123456789012:role/bedrock"
ASSUMED = """<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIALLMGWTEMPORARY</AccessKeyId>
      <SecretAccessKey>temporary-secret</SecretAccessKey>
      <SessionToken>temporary-token</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>AROALLMGW:llmgw</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/bedrock/llmgw</Arn>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>fake-sts</RequestId></ResponseMetadata>
</AssumeRoleResponse>"""


class FakeSts(ThreadingHTTPServer):
    """Answers AssumeRole with fixed temporary credentials and remembers what it was asked."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _StsHandler)
        self.calls: list[dict[str, list[str]]] = []


class _StsHandler(BaseHTTPRequestHandler):
    server: FakeSts

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.calls.append(parse_qs(self.rfile.read(length).decode()))
        body = ASSUMED.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # the base class's name
        """Quiet: the test reads `calls`."""


@pytest.fixture
def sts() -> Iterator[FakeSts]:
    server = FakeSts()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def fake() -> Iterator[FakeBedrockServer]:
    with FakeBedrockServer() as server:
        yield server


async def _converse(config: BedrockClientConfig) -> str:
    client = BedrockClient(config)
    try:
        answer = await client.converse({"modelId": HAIKU, "messages": [{"role": "user", "content": [{"text": "hi"}]}]})
    finally:
        await client.close()
    return str(answer["stopReason"])


def test_named_profile_signs_the_calls(
    fake: FakeBedrockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`profile` reads that profile's keys from the shared credentials file."""
    credentials = tmp_path / "credentials"
    credentials.write_text("[bedrock-west]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    config = BedrockClientConfig(region="us-west-2", endpoint_url=fake.url, max_attempts=1, profile="bedrock-west")
    assert asyncio.run(_converse(config)) == "end_turn"


def test_role_is_assumed_once_and_its_credentials_sign(
    fake: FakeBedrockServer, sts: FakeSts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`role_arn` assumes the role through STS on first use (not at start-up), then calls Bedrock with it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{sts.server_address[1]}")
    config = BedrockClientConfig(
        region="us-west-2",
        endpoint_url=fake.url,
        max_attempts=1,
        access_key_id="AKIDSOURCE",
        secret_access_key="source-secret",
        role_arn=ROLE_ARN,
    )
    client = BedrockClient(config)
    asyncio.run(client.close())
    assert sts.calls == []
    assert asyncio.run(_converse(config)) == "end_turn"
    assert [(call["Action"], call["RoleArn"], call["RoleSessionName"]) for call in sts.calls] == [
        (["AssumeRole"], [ROLE_ARN], ["llmgw"])
    ]
