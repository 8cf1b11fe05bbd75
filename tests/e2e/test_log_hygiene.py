"""Logs of a DEBUG run hold no prompt, no API key and no AWS credential."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anthropic
import openai
import pytest

from llmgw.server.rpc.redaction import redact
from tests.e2e.conftest import LLMGW, STARTUP_TIMEOUT_S, free_port, gateway_env, stop, wait_for_http

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"  # InvokeModel (raw bodies), CountTokens
SONNET_5 = "global.anthropic.claude-sonnet-5"  # the native /anthropic/v1/messages route
PROMPT = "zebra-quartz-PROMPT-4711 tell me about the weather"
ACCESS_KEY_ID = "AKIAHARDENINGTEST123"
SECRET_ACCESS_KEY = "hardeningSecretAccessKey/1234567890abcdefXYZ"
SESSION_TOKEN = "hardeningSessionToken0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("authorization: Bearer sk-llmgw-abcdef0123456789", "abcdef0123456789"),
        ("{'Authorization': 'AWS4-HMAC-SHA256 Credential=AKIAXXXXXXXXXXXXXXXX/2026'}", "AKIAXXXXXXXXXXXXXXXX"),
        ("headers={'X-Amz-Security-Token': 'tok3n-value'}", "tok3n-value"),
        ("Signature=0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
        ("token eyJhbGciOi.eyJzdWIiOiJh.c2lnbmF0dXJl here", "eyJzdWIiOiJh"),
        ("x-api-key: sk-ant-api03-secret", "sk-ant-api03-secret"),
        ("AUTHORIZATION=BEARER sk-llmgw-ABCDEF0123456789", "ABCDEF0123456789"),
        ("X-API-KEY: topsecretvalue", "topsecretvalue"),
        ("aws_session_token='FwoGZXIvYXdzEDEaDLONG'", "FwoGZXIvYXdzEDEaDLONG"),
    ],
)
def test_redact(text: str, secret: str) -> None:
    """Every credential shape is replaced, whatever logged it."""
    cleaned = redact(text)
    assert secret not in cleaned
    assert "[redacted]" in cleaned


def test_redact_keeps_clean_text() -> None:
    """A line with no credential shape comes back unchanged (the fast path), also with odd cases."""
    line = "chat.CreateChatCompletion OK user=alice model=anthropic.claude-3-haiku key=Main-Key 12.5 ms"
    assert redact(line) == line
    assert redact("") == ""


def test_debug_logs_hold_no_prompt_or_secret(fake_bedrock_process: str, tmp_path: Path) -> None:
    """A DEBUG gateway with real-looking AWS credentials logs none of them, nor the prompt.

    It serves unary and streamed OpenAI chats and Anthropic messages (InvokeModel, its
    response stream, the native route, CountTokens).
    """
    http_port, grpc_port = free_port(), free_port()
    env = gateway_env(
        tmp_path,
        debug="true",
        bedrock_endpoint_url=fake_bedrock_process,
        bedrock_max_attempts="1",
        http_listen=f"127.0.0.1:{http_port}",
        grpc_listen=f"127.0.0.1:{grpc_port}",
        shutdown_grace_seconds="2",
    )
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        AWS_SESSION_TOKEN=SESSION_TOKEN,
    )
    key = (
        subprocess.run(  # noqa: S603 - our own command
            [*LLMGW, "keys", "create", "--user", "dana", "--name", "main"],
            env=env,
            capture_output=True,
            check=True,
            timeout=STARTUP_TIMEOUT_S,
        )
        .stdout.decode()
        .strip()
    )
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([*LLMGW, "serve"], env=env, stderr=log)  # noqa: S603 - our own command
        try:
            wait_for_http(f"http://127.0.0.1:{http_port}/healthz", process)
            with openai.OpenAI(base_url=f"http://127.0.0.1:{http_port}/v1", api_key=key, max_retries=0) as client:
                reply = client.chat.completions.create(model=HAIKU, messages=[{"role": "user", "content": PROMPT}])
                assert reply.choices[0].message.content
                chunks = client.chat.completions.create(
                    model=HAIKU, messages=[{"role": "user", "content": PROMPT}], stream=True
                )
                assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
            with anthropic.Anthropic(base_url=f"http://127.0.0.1:{http_port}", api_key=key, max_retries=0) as claude:
                said: list[anthropic.types.MessageParam] = [{"role": "user", "content": PROMPT}]
                for model in (HAIKU_45, SONNET_5):
                    assert claude.messages.create(model=model, max_tokens=64, messages=said).content
                    with claude.messages.stream(model=model, max_tokens=64, messages=said) as stream:
                        assert "".join(stream.text_stream)
                counted = claude.messages.count_tokens(model=HAIKU_45, messages=said)
                assert counted.input_tokens > 0
            with (
                openai.OpenAI(base_url=f"http://127.0.0.1:{http_port}/v1", api_key=key + "x", max_retries=0) as wrong,
                pytest.raises(openai.AuthenticationError),
            ):
                wrong.chat.completions.create(model=HAIKU, messages=[{"role": "user", "content": PROMPT}])
        finally:
            assert stop(process) == 0
    logs = log_path.read_text(encoding="utf-8", errors="replace")
    assert '"level": "debug"' in logs, "the run logged at DEBUG"
    assert '"logger": "llmgw.requests"' in logs
    secret_part = key.removeprefix("sk-llmgw-")
    for forbidden in ("zebra-quartz", secret_part, ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN):
        assert forbidden not in logs, f"{forbidden[:12]}... is in the logs"
