"""The `llmgw` command line: key bootstrap, settings errors, serving and graceful shutdown."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc

from llmgw.v1 import model_service_pb2, model_service_pb2_grpc
from tests.e2e.conftest import LLMGW, STARTUP_TIMEOUT_S, ServedGateway, gateway_env


def run_llmgw(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `llmgw ARGS` to completion (bounded), capturing its output as text."""
    return subprocess.run(  # noqa: S603 - our own command
        [*LLMGW, *args], env=env, capture_output=True, text=True, timeout=STARTUP_TIMEOUT_S, check=False
    )


def test_keys_create_prints_only_the_key(served_gateway: ServedGateway) -> None:
    """`keys create` prints the key alone on stdout; it works at once for gRPC calls."""
    done = run_llmgw(
        "keys", "create", "--user", "erin", "--name", "laptop", "--expires", "2099-01-01", env=served_gateway.env
    )
    assert done.returncode == 0
    key = done.stdout.strip()
    assert done.stdout == key + "\n"
    assert key.startswith("sk-llmgw-")
    assert key not in done.stderr
    with grpc.insecure_channel(served_gateway.grpc_target) as channel:
        models = model_service_pb2_grpc.ModelServiceStub(channel).ListModels(
            model_service_pb2.ListModelsRequest(), metadata=(("authorization", f"Bearer {key}"),)
        )
    assert models.data


def test_keys_create_refuses_duplicates_and_past_expiry(served_gateway: ServedGateway) -> None:
    """A duplicate name or an expiry in the past is refused with one line and nothing on stdout."""
    run_llmgw("keys", "create", "--user", "frank", "--name", "dup", env=served_gateway.env)
    duplicate = run_llmgw("keys", "create", "--user", "frank", "--name", "dup", env=served_gateway.env)
    assert duplicate.returncode != 0
    assert duplicate.stdout == ""
    assert "already exists" in duplicate.stderr
    past = run_llmgw(
        "keys", "create", "--user", "frank", "--name", "old", "--expires", "2001-01-01", env=served_gateway.env
    )
    assert past.returncode == 2
    assert past.stdout == ""
    assert "not in the future" in past.stderr


def test_bad_setting_stops_start_up_with_one_line(tmp_path: Path) -> None:
    """`llmgw serve` with a bad setting exits 2 with one line naming it."""
    done = run_llmgw("serve", env=gateway_env(tmp_path, http_listen="nowhere"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("llmgw: LLMGW_HTTP_LISTEN (environment): expected HOST:PORT")
