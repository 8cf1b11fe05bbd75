from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.server import FakeBedrockServer
from tests.fakebedrock.conftest import CHAT_MODEL, make_client, user


def test_server_serves_boto3_on_a_free_port_and_stops() -> None:
    """The context manager listens on 127.0.0.1, answers boto3, and stops on exit."""
    server = FakeBedrockServer(FakeBedrockConfig(output_tokens=3))
    with server:
        assert server.url.startswith("http://127.0.0.1:")
        client = make_client(server.url)
        try:
            response = client.converse(modelId=CHAT_MODEL, messages=[user("hi")])
        finally:
            client.close()
        assert response["usage"]["outputTokens"] == 3
        assert server.app.stats.requests == 1
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


def test_configured_fault_applies_to_every_request() -> None:
    """A server configured with a fault plays it on every call, chat and embeddings alike."""
    with FakeBedrockServer(FakeBedrockConfig(fault="access_denied")) as server:
        client = make_client(server.url)
        try:
            for call in (
                lambda: client.converse(modelId=CHAT_MODEL, messages=[user("hi")]),
                lambda: client.invoke_model(modelId="amazon.titan-embed-text-v1", body=b'{"inputText": "hi"}'),
            ):
                with pytest.raises(ClientError) as caught:
                    call()
                assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
        finally:
            client.close()


def test_starting_twice_is_refused() -> None:
    """start() on a running server raises instead of leaking a second thread."""
    with FakeBedrockServer() as server, pytest.raises(RuntimeError, match="already running"):
        server.start()
