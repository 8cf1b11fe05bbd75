"""`llmgw fake-bedrock`: the fake Bedrock on its own port, for the demo, manual tests and load tests."""

import argparse
import contextlib
import sys
from pathlib import Path

from llmgw.fakebedrock.config import FakeBedrockConfig
from llmgw.fakebedrock.faults import FAULT_NAMES
from llmgw.fakebedrock.server import serve_forever

DEFAULT_PORT = 8090


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's flags on the subcommand parser the top-level CLI hands in."""
    defaults = FakeBedrockConfig()
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (default: %(default)s)")
    parser.add_argument(
        "--ttft-ms", type=float, default=defaults.ttft_ms, help="delay before the first token (default: %(default)s)"
    )
    parser.add_argument(
        "--token-delay-ms",
        type=float,
        default=defaults.token_delay_ms,
        help="delay between tokens (default: %(default)s)",
    )
    parser.add_argument(
        "--output-tokens", type=int, default=defaults.output_tokens, help="words per answer (default: %(default)s)"
    )
    parser.add_argument(
        "--fault",
        default=None,
        help=f"fault played on every request: {', '.join(sorted(FAULT_NAMES))} (throttle:N throttles N times)",
    )
    parser.add_argument(
        "--control-plane",
        type=Path,
        default=None,
        help="JSON of ListFoundationModels / ListInferenceProfiles answers per region "
        '({"us-east-1": {"modelSummaries": [...], "inferenceProfileSummaries": [...]}}; "*" for any region)',
    )


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted (exit 0 on Ctrl-C); returns 2 with one line on stderr if a flag is invalid."""
    try:
        config = FakeBedrockConfig(
            ttft_ms=args.ttft_ms, token_delay_ms=args.token_delay_ms, output_tokens=args.output_tokens, fault=args.fault
        )
        if args.control_plane is not None and not args.control_plane.is_file():
            raise ValueError(f"--control-plane: no such file {args.control_plane}")
    except ValueError as error:
        print(f"llmgw fake-bedrock: {error}", file=sys.stderr)
        return 2
    # uvicorn shuts down gracefully on Ctrl-C, then re-raises it; that is a normal exit here.
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(config, args.host, args.port, args.control_plane)
    return 0
