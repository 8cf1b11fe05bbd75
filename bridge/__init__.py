"""The OpenAI-compatible HTTP bridge in front of the gateway's gRPC API.

`create_app(target)` builds the ASGI app (routes generated from the `google.api.http`
annotations of llmgw.v1); `serve_http(app, host, port)` serves it in the current event loop.
"""

from llmgw.bridge.app import BridgeApp, create_app, serve_http

__all__ = ["BridgeApp", "create_app", "serve_http"]
