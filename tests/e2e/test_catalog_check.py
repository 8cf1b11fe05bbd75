"""`llmgw catalog check` against the fake Bedrock's control plane, through boto3's `bedrock` client."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmgw.fakebedrock.control_plane import RegionLists, model_summary, profile_summary
from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.server.core.catalog import Catalog
from tests.e2e.conftest import LLMGW, STARTUP_TIMEOUT_S, gateway_env

REGIONS = ("us-east-1", "eu-west-1")


def lists_of(catalog: Catalog) -> RegionLists:
    """What a Bedrock that offers exactly the catalog lists: every base model and every profile."""
    lists = RegionLists()
    seen: set[str] = set()
    for model in catalog.served():
        if model.base_id not in seen:
            seen.add(model.base_id)
            kinds = ("ON_DEMAND",) if model.base_id in catalog else ("INFERENCE_PROFILE",)
            status = "LEGACY" if model.lifecycle.state == "legacy" else "ACTIVE"
            output = "TEXT" if model.kind == "chat" else "EMBEDDING"
            summary = model_summary(
                model.base_id, model.display_name, model.owned_by, inference_types=kinds, status=status, output=output
            )
            if model.lifecycle.end_of_life is not None:
                summary["modelLifecycle"]["endOfLifeTime"] = f"{model.lifecycle.end_of_life}T00:00:00Z"
            lists.models.append(summary)
        if model.profile:
            lists.profiles.append(profile_summary(model.id, model.base_id))
    return lists


@pytest.fixture
def fake() -> Iterator[FakeBedrockServer]:
    """A fake Bedrock of its own, whose lists this test changes."""
    with FakeBedrockServer() as server:
        for region in REGIONS:
            server.app.control_plane.set_lists(lists_of(Catalog.load()), region)
        yield server


def catalog_check(fake: FakeBedrockServer, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run `llmgw catalog check` for both regions against the fake."""
    env = gateway_env(data_dir, benchmark_mode="true", bedrock_endpoint_url=fake.url, bedrock_max_attempts="1")
    regions = [argument for region in REGIONS for argument in ("--region", region)]
    return subprocess.run(  # noqa: S603 - our own command
        [*LLMGW, "catalog", "check", *regions], env=env, capture_output=True, text=True, timeout=STARTUP_TIMEOUT_S
    )


def test_no_drift_then_drift_after_bedrock_lists_a_new_model(fake: FakeBedrockServer, tmp_path: Path) -> None:
    """Exit 0 while Bedrock lists what the catalog has; exit 1 naming a new model, its profile, a lifecycle change."""
    clean = catalog_check(fake, tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert [line.split(":")[0] for line in clean.stdout.splitlines()] == list(REGIONS)
    assert all("no drift" in line for line in clean.stdout.splitlines())

    control = fake.app.control_plane
    changed = lists_of(Catalog.load())
    changed.models.append(model_summary("anthropic.claude-sonnet-6", "Claude Sonnet 6", "Anthropic"))
    changed.profiles.append(profile_summary("global.anthropic.claude-sonnet-6", "anthropic.claude-sonnet-6"))
    for summary in changed.models:
        if summary["modelId"] == "anthropic.claude-sonnet-4-5-20250929-v1:0":
            summary["modelLifecycle"] = {"status": "LEGACY"}
    control.set_lists(changed, "eu-west-1")

    drift = catalog_check(fake, tmp_path)
    assert drift.returncode == 1, drift.stdout + drift.stderr
    assert "us-east-1: no drift" in drift.stdout
    assert "eu-west-1: drift" in drift.stdout
    assert "anthropic.claude-sonnet-6 (Claude Sonnet 6, Anthropic; ON_DEMAND)" in drift.stdout
    assert "global.anthropic.claude-sonnet-6" in drift.stdout
    assert "anthropic.claude-sonnet-4-5-20250929-v1:0: the catalog says ACTIVE, Bedrock says LEGACY" in drift.stdout


def test_a_model_no_region_lists_is_drift(fake: FakeBedrockServer, tmp_path: Path) -> None:
    """A catalog model Bedrock stopped listing everywhere is reported."""
    for region in REGIONS:
        lists = lists_of(Catalog.load())
        lists.models = [m for m in lists.models if m["modelId"] != "amazon.nova-micro-v1:0"]
        fake.app.control_plane.set_lists(lists, region)
    drift = catalog_check(fake, tmp_path)
    assert drift.returncode == 1
    assert "amazon.nova-micro-v1:0: served by the catalog, listed in none of us-east-1, eu-west-1" in drift.stdout


def test_unreachable_bedrock_is_exit_2(tmp_path: Path) -> None:
    """No answer: one line on stderr naming the region, exit 2."""
    env = gateway_env(
        tmp_path, benchmark_mode="true", bedrock_endpoint_url="http://127.0.0.1:9", bedrock_max_attempts="1"
    )
    done = subprocess.run(  # noqa: S603 - our own command
        [*LLMGW, "catalog", "check"], env=env, capture_output=True, text=True, timeout=STARTUP_TIMEOUT_S
    )
    assert done.returncode == 2
    assert "Could not read Bedrock's model lists in us-east-1" in done.stderr
