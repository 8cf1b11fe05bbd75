"""Bedrock's control-plane lists for one region, through boto3's `bedrock` client.

`llmgw catalog check` is the one user: ListFoundationModels and every page of
ListInferenceProfiles (system-defined), read into the plain types of
core/catalog_drift.py. The same settings as the runtime client apply (region,
endpoint URL, the fake's dummy credentials in benchmark mode), so the check runs
against AWS or against the fake Bedrock alike.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import boto3  # noqa: TID251  # the control-plane twin of client.py, its only other home
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from llmgw.server.core.catalog_drift import ListedModel, RegionListing
from llmgw.server.providers.bedrock.client import BedrockClientConfig
from llmgw.wire.errors import UpstreamError

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient as ControlClient
    from mypy_boto3_bedrock.type_defs import FoundationModelSummaryTypeDef


def _client(config: BedrockClientConfig) -> ControlClient:
    return boto3.client(
        "bedrock",
        region_name=config.region,
        endpoint_url=config.endpoint_url,
        aws_access_key_id=config.access_key_id,
        aws_secret_access_key=config.secret_access_key,
        config=Config(
            retries={"total_max_attempts": config.max_attempts, "mode": "standard"},
            connect_timeout=config.connect_timeout_s,
            read_timeout=config.read_timeout_s,
        ),
    )


def _listed(summary: FoundationModelSummaryTypeDef) -> ListedModel:
    lifecycle: Any = summary.get("modelLifecycle", {})
    end: datetime | None = lifecycle.get("endOfLifeTime")
    return ListedModel(
        model_id=summary["modelId"],
        name=summary.get("modelName", ""),
        provider=summary.get("providerName", ""),
        outputs=frozenset(summary.get("outputModalities", [])),
        inference_types=frozenset(str(kind) for kind in summary.get("inferenceTypesSupported", [])),
        status=str(lifecycle.get("status", "ACTIVE")),
        end_of_life=end.date() if isinstance(end, datetime) else end if isinstance(end, date) else None,
    )


def read_region(config: BedrockClientConfig) -> RegionListing:
    """What Bedrock lists in `config.region`; UpstreamError (naming the region) when it cannot be read."""
    client = _client(config)
    try:
        models = tuple(_listed(summary) for summary in client.list_foundation_models()["modelSummaries"])
        profile_ids: list[str] = []
        for page in client.get_paginator("list_inference_profiles").paginate(typeEquals="SYSTEM_DEFINED"):
            profile_ids.extend(profile["inferenceProfileId"] for profile in page["inferenceProfileSummaries"])
    except (BotoCoreError, ClientError) as exc:
        raise UpstreamError(f"Could not read Bedrock's model lists in {config.region}: {exc}") from exc
    finally:
        client.close()
    return RegionListing(config.region, models, tuple(profile_ids))
