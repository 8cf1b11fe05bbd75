from __future__ import annotations

import argparse
import os
import re
import selectors
import signal
import subprocess
import sys
import time

import pytest
from botocore.exceptions import ClientError

from llmgw.fakebedrock import cli
from tests.fakebedrock.conftest import CHAT_MODEL, make_client, user

RUN_CLI = (
    "import argparse, sys\n"
    "from llmgw.fakebedrock import cli\n"
    "parser = argparse.ArgumentParser()\n"
    "cli.add_arguments(parser)\n"
    "sys.exit(cli.run(parser.parse_args(sys.argv[1:])))\n"
)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    """Without flags the fake listens on 127.0.0.1:8090 with the config defaults."""
    args = parse()
    assert (args.host, args.port, args.ttft_ms, args.token_delay_ms, args.output_tokens, args.fault) == (
        "127.0.0.1",
        8090,
        0.0,
        0.0,
        24,
        None,
    )


def test_invalid_fault_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown fault is reported on stderr in one line, with exit status 2."""
    assert cli.run(parse("--fault", "meltdown")) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "meltdown" in error


def read_port(process: subprocess.Popen[str], timeout: float = 15.0) -> int:
    selector = selectors.DefaultSelector()
    assert process.stderr is not None
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    output = ""
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = process.stderr.readline()
                output += line
                match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
                if match:
                    return int(match.group(1))
                if not line:
                    break
    finally:
        selector.close()
    raise AssertionError(f"the fake did not report its port: {output}")


def test_run_serves_until_interrupted() -> None:
    """`run` serves boto3 on the given port with the given settings and exits 0 on SIGINT."""
    command = [sys.executable, "-c", RUN_CLI, "--port", "0", "--output-tokens", "4"]
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)  # noqa: S603  (our own interpreter)
    try:
        port = read_port(process)
        client = make_client(f"http://127.0.0.1:{port}")
        try:
            response = client.converse(modelId=CHAT_MODEL, messages=[user("hello")])
        finally:
            client.close()
        assert response["usage"]["outputTokens"] == 4
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=15)
        if process.stderr is not None:
            process.stderr.close()


def test_model_fault_flag_throttles_that_model_only() -> None:
    """`--model-fault MODEL=FAULT` (as the README's two-region setup runs it) applies to that model alone."""
    other = "amazon.nova-micro-v1:0"
    command = [sys.executable, "-c", RUN_CLI, "--port", "0", "--model-fault", f"{CHAT_MODEL}=throttle"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)  # noqa: S603  (our own interpreter)
    try:
        client = make_client(f"http://127.0.0.1:{read_port(process)}")
        try:
            with pytest.raises(ClientError) as throttled:
                client.converse(modelId=CHAT_MODEL, messages=[user("hello")])
            assert client.converse(modelId=other, messages=[user("hello")])["stopReason"] == "end_turn"
        finally:
            client.close()
        assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.parametrize("value", ["no-equals-sign", "=throttle", f"{CHAT_MODEL}=meltdown"])
def test_bad_model_fault_exits_2_with_one_line(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed --model-fault is reported in one line with exit status 2."""
    assert cli.run(parse("--model-fault", value)) == 2
    assert capsys.readouterr().err.count("\n") == 1
