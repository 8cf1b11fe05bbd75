"""The `llmgw` command: serve, demo, fake-bedrock, keys create, catalog check, tui.

Only the API key goes to stdout (for `keys create` and `demo`), so scripts can
capture it; everything else goes to stderr. A bad setting ends the command
with one line naming it and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from collections.abc import Coroutine, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from llmgw.server.settings import Settings, SettingsError

logger = logging.getLogger("llmgw")


def _parse_expiry(text: str) -> datetime | None:
    if text == "never":
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or never, got {text!r}") from None
    expires = datetime.combine(day, time.min, tzinfo=UTC)
    if expires <= datetime.now(UTC):
        raise argparse.ArgumentTypeError(f"the expiry date {text} is not in the future")
    return expires


def _read_ca_file(text: str) -> bytes:
    try:
        return Path(text).expanduser().read_bytes()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read the CA file {text}: {exc.strerror}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from llmgw.fakebedrock import cli as fake_cli

    parser = argparse.ArgumentParser(prog="llmgw", description="LLM Gateway: governed access to Amazon Bedrock.")
    parser.add_argument("--config", type=Path, help="TOML settings file (LLMGW_* environment variables win)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gRPC server and the HTTP bridge")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--grpc-only", action="store_true", help="serve gRPC only, no HTTP bridge")
    mode.add_argument("--http-only", action="store_true", help="serve only the HTTP bridge (needs --grpc-target)")
    serve.add_argument("--grpc-target", help="HOST:PORT of the gRPC server the HTTP-only bridge forwards to")

    commands.add_parser("demo", help="serve with an in-process fake Bedrock and print an admin key")

    fake = commands.add_parser("fake-bedrock", help="run the fake Bedrock Runtime server")
    fake_cli.add_arguments(fake)

    keys = commands.add_parser("keys", help="manage API keys straight in the database (operator bootstrap)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key and print it once on stdout")
    create.add_argument("--user", required=True, help="the user who owns the key")
    create.add_argument("--name", required=True, help="the key's name, unique per user")
    create.add_argument(
        "--expires", type=_parse_expiry, default=None, help="expiry date YYYY-MM-DD (UTC midnight) or never"
    )

    catalog = commands.add_parser("catalog", help="the model catalog")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    check = catalog_commands.add_parser("check", help="compare the catalog with Bedrock's model lists; exit 1 on drift")
    check.add_argument(
        "--region",
        action="append",
        dest="regions",
        metavar="REGION",
        help="an AWS region to compare with; repeat for several (default: the AWS_REGION setting)",
    )

    tui = commands.add_parser("tui", help="the terminal UI: chat, your keys and, for admins, the admin console")
    tui.add_argument("--target", default="127.0.0.1:50051", help="HOST:PORT of the gateway's gRPC server")
    tui.add_argument("--api-key", default=None, help="API key (default: LLMGW_API_KEY, else the sign-in screen asks)")
    tui.add_argument(
        "--ca-file", type=_read_ca_file, default=None, help="CA certificate (PEM) to connect over TLS; default: plain"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "tui":
        from llmgw.tui.app import run_tui

        run_tui(args.target, args.api_key or os.environ.get("LLMGW_API_KEY", ""), args.ca_file)
        return 0
    if args.command == "fake-bedrock":
        from llmgw.fakebedrock import cli as fake_cli

        return fake_cli.run(args)
    try:
        settings = Settings.load(args.config)
    except SettingsError as exc:
        print(f"llmgw: {exc}", file=sys.stderr)
        return 2
    from llmgw.server.rpc.logging_setup import configure_logging

    configure_logging(settings.log_format, settings.debug)
    try:
        if args.command == "keys":
            return _create_key(settings, args.user, args.name, args.expires)
        if args.command == "catalog":
            from llmgw.catalog_check import check

            return check(settings, args.regions)
        if args.command == "demo":
            return _demo(settings)
        if args.http_only and not args.grpc_target:
            print("llmgw: --http-only needs --grpc-target HOST:PORT", file=sys.stderr)
            return 2
        _run_loop(_serve(settings, grpc=not args.http_only, http=not args.grpc_only, grpc_target=args.grpc_target))
    except SettingsError as exc:
        print(f"llmgw: {exc}", file=sys.stderr)
        return 2
    return 0


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Serve on uvloop where it exists (not on Windows).

    With grpc.aio and uvicorn sharing one loop, uvloop cut the bridge's CPU per
    stream by about a fifth in bench/RESULTS.md ("After hot-path work").
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def _create_key(settings: Settings, user: str, name: str, expires: datetime | None) -> int:
    from llmgw.server.core.keys import load_server_secret
    from llmgw.server.store import keys_repo
    from llmgw.server.store.db import open_database
    from llmgw.wire.errors import GatewayError

    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = open_database(settings.database_url, settings.data_dir)
    try:
        _, secret = keys_repo.create_key(
            user, name, expires, load_server_secret(settings.server_secret, settings.data_dir)
        )
    except GatewayError as exc:
        print(f"llmgw: {exc.message}", file=sys.stderr)
        return 1
    finally:
        database.close()
    print(secret)
    print(f"Created key {name!r} for {user!r}; it is shown only once.", file=sys.stderr)
    return 0


def _demo(settings: Settings) -> int:
    from llmgw.fakebedrock.config import FakeBedrockConfig
    from llmgw.fakebedrock.server import FakeBedrockServer

    with FakeBedrockServer(FakeBedrockConfig(ttft_ms=150, token_delay_ms=25)) as fake:
        data_dir = Path(tempfile.mkdtemp(prefix="llmgw-demo-"))
        settings = Settings.load(
            benchmark_mode=True,
            bedrock_endpoint_url=fake.url,
            data_dir=str(data_dir),
            database_url="",
            admin_list=[*settings.admin_list, "admin"],
            grpc_listen=str(settings.grpc_listen),
            http_listen=str(settings.http_listen),
        )
        if _create_key(settings, "admin", "demo", None) != 0:
            return 1
        http = settings.http_listen
        print(
            f"\nDemo gateway with a fake Bedrock ({fake.url}); data in {data_dir}.\n"
            f"The line above on stdout is an admin API key. Try:\n\n"
            f"  from openai import OpenAI\n"
            f"  client = OpenAI(base_url='http://{http}/v1', api_key='<the key>')\n"
            f"  client.chat.completions.create(model='anthropic.claude-3-haiku-20240307-v1:0',\n"
            f"      messages=[{{'role': 'user', 'content': 'Hello'}}])\n\n"
            f"gRPC: {settings.grpc_listen}. Stop with Ctrl-C.\n",
            file=sys.stderr,
        )
        _run_loop(_serve(settings, grpc=True, http=True, grpc_target=None))
    return 0


async def _serve(settings: Settings, *, grpc: bool, http: bool, grpc_target: str | None) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully (llmgw/serving.py says how)."""
    from llmgw.serving import serve

    await serve(settings, grpc_server=grpc, http=http, grpc_target=grpc_target)


if __name__ == "__main__":
    sys.exit(main())
