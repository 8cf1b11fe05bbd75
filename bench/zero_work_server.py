"""A zero-work OpenAI-shaped chat server: the ceiling of this machine for the bridge's stack.

It answers POST /v1/chat/completions at once with a canned completion (JSON) or a canned
stream (SSE, one event per token, as the gateway sends them), on the same server stack as the
bridge (uvicorn + httptools, driven by `llmgw.bridge.http_server.serve_http`), reading the
body but parsing nothing else. Whatever the bridge loses against it is the gateway's own work.

    python -m bench.zero_work_server --port 8099 [--tokens 24] [--ttft-ms 200 --token-delay-ms 20]

With --ttft-ms and --token-delay-ms it waits like the fake Bedrock does (before the first
token, between tokens), so it is the ceiling for loads with realistic timing too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time

import uvloop

from llmgw.bridge.http_server import Receive, Scope, Send, serve_http

_JSON_HEADERS = [(b"content-type", b"application/json")]
_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
_STREAM_FLAG = b'"stream":true'


def canned_completion(model: str, tokens: int) -> bytes:
    """A chat.completion body with `tokens` words of content."""
    words = " ".join(f"word{i}" for i in range(tokens))
    return json.dumps(
        {
            "id": "chatcmpl-zero",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": words}, "finish_reason": "stop"},
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": tokens, "total_tokens": tokens + 3},
        },
        separators=(",", ":"),
    ).encode()


def canned_stream(model: str, tokens: int) -> list[bytes]:
    """SSE events: a role chunk, one chunk per word, a finish chunk, then [DONE]."""
    created = int(time.time())

    def chunk(delta: dict[str, str], finish: str | None) -> bytes:
        body = {
            "id": "chatcmpl-zero",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    events = [chunk({"role": "assistant"}, None)]
    events += [chunk({"content": f"word{i} "}, None) for i in range(tokens)]
    events.append(chunk({}, "stop"))
    events.append(b"data: [DONE]\n\n")
    return events


class ZeroWorkApp:
    """The ASGI app: canned answers, one body read per request, nothing else."""

    def __init__(self, model: str, tokens: int, ttft_s: float = 0.0, token_delay_s: float = 0.0) -> None:
        self.ttft_s = ttft_s
        self.token_delay_s = token_delay_s
        self.completion = canned_completion(model, tokens)
        self.content_length = str(len(self.completion)).encode()
        self.events = canned_stream(model, tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI scope; lifespan messages are acknowledged."""
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["path"] != "/v1/chat/completions" or scope["method"] != "POST":
            await send({"type": "http.response.start", "status": 404, "headers": _JSON_HEADERS})
            await send({"type": "http.response.body", "body": b'{"error":{"message":"not found"}}'})
            return
        if _STREAM_FLAG in body.replace(b" ", b""):
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
            if self.ttft_s:
                await asyncio.sleep(self.ttft_s)
            for index, event in enumerate(self.events):
                if self.token_delay_s and 1 < index < len(self.events) - 2:  # between the content tokens
                    await asyncio.sleep(self.token_delay_s)
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        delay = self.ttft_s + self.token_delay_s * max(0, len(self.events) - 4)
        if delay:
            await asyncio.sleep(delay)
        headers = [*_JSON_HEADERS, (b"content-length", self.content_length)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.completion})


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bench.zero_work_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=24, help="words per answer (default: %(default)s)")
    parser.add_argument("--model", default="anthropic.claude-3-haiku-20240307-v1:0")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="wait before the first token")
    parser.add_argument("--token-delay-ms", type=float, default=0.0, help="wait between tokens")
    args = parser.parse_args(argv)
    app = ZeroWorkApp(args.model, args.tokens, args.ttft_ms / 1000, args.token_delay_ms / 1000)
    coroutine = serve_http(app, args.host, args.port)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(coroutine)  # the loop `llmgw serve` runs on, so the ceiling is comparable
    return 0


if __name__ == "__main__":
    sys.exit(main())
