"""Bedrock's control-plane lists, per region: ListFoundationModels and ListInferenceProfiles.

The `bedrock` service (not `bedrock-runtime`) speaks REST-JSON: `GET /foundation-models`
and `GET /inference-profiles`. The region a call is for is the one in its SigV4
credential scope, so one fake answers every region, each with its own lists (a region
without lists of its own gets the default ones). Tests and `llmgw fake-bedrock
--control-plane FILE` fill the lists; the fake starts with empty ones.
"""

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from llmgw.fakebedrock.errors import invalid

_SCOPE = re.compile(rb"Credential=[^/,]+/\d{8}/([a-z0-9-]+)/bedrock/aws4_request")
_PAGE = 1000
DEFAULT_REGION = "*"


@dataclass
class RegionLists:
    """One region's foundation-model summaries and system-defined inference profiles, as Bedrock returns them."""

    models: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)


def model_summary(
    model_id: str,
    name: str,
    provider: str,
    *,
    inference_types: tuple[str, ...] = ("ON_DEMAND",),
    status: str = "ACTIVE",
    output: str = "TEXT",
    region: str = "us-east-1",
) -> dict[str, Any]:
    """A FoundationModelSummary as ListFoundationModels returns it."""
    return {
        "modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model_id}",
        "modelId": model_id,
        "modelName": name,
        "providerName": provider,
        "inputModalities": ["TEXT"],
        "outputModalities": [output],
        "responseStreamingSupported": output == "TEXT",
        "customizationsSupported": [],
        "inferenceTypesSupported": list(inference_types),
        "modelLifecycle": {"status": status},
    }


def profile_summary(profile_id: str, model_id: str, region: str = "us-east-1") -> dict[str, Any]:
    """A system-defined InferenceProfileSummary as ListInferenceProfiles returns it."""
    return {
        "inferenceProfileName": profile_id,
        "description": f"Routes requests to {model_id}.",
        "inferenceProfileArn": f"arn:aws:bedrock:{region}::inference-profile/{profile_id}",
        "models": [{"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model_id}"}],
        "inferenceProfileId": profile_id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    }


class ControlPlane:
    """The lists per region, safe to change from a test while the fake serves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._regions: dict[str, RegionLists] = {}

    def set_lists(self, lists: RegionLists, region: str = DEFAULT_REGION) -> None:
        """Replace a region's lists (DEFAULT_REGION: every region without lists of its own)."""
        with self._lock:
            self._regions[region] = lists

    def add_model(self, summary: dict[str, Any], region: str = DEFAULT_REGION) -> None:
        """List one more foundation model in a region, as Bedrock does when a model launches."""
        with self._lock:
            self._regions.setdefault(region, RegionLists()).models.append(summary)

    def load(self, path: Path) -> None:
        """Read lists from JSON: {region: {"modelSummaries": [...], "inferenceProfileSummaries": [...]}}."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected an object of regions")
        for region, lists in data.items():
            self.set_lists(
                RegionLists(list(lists.get("modelSummaries", [])), list(lists.get("inferenceProfileSummaries", []))),
                region,
            )

    def _lists(self, region: str) -> RegionLists:
        with self._lock:
            return self._regions.get(region) or self._regions.get(DEFAULT_REGION) or RegionLists()

    def answer(self, path: bytes, query: bytes, headers: Mapping[bytes, bytes]) -> dict[str, Any] | None:
        """The response body for a control-plane GET, or None when the path is not one of the two."""
        region = _region(headers)
        lists = self._lists(region)
        params = parse_qs(query.decode())
        if path == b"/foundation-models":
            wanted = params.get("byInferenceType", [None])[0]
            models = [m for m in lists.models if wanted is None or wanted in m.get("inferenceTypesSupported", [])]
            return {"modelSummaries": models}
        if path == b"/inference-profiles":
            kind = params.get("type", ["SYSTEM_DEFINED"])[0]
            profiles = [p for p in lists.profiles if p.get("type") == kind]
            start = _token(params.get("nextToken", ["0"])[0])
            size = int(params.get("maxResults", [str(_PAGE)])[0])
            body: dict[str, Any] = {"inferenceProfileSummaries": profiles[start : start + size]}
            if start + size < len(profiles):
                body["nextToken"] = str(start + size)
            return body
        return None


def _region(headers: Mapping[bytes, bytes]) -> str:
    match = _SCOPE.search(headers.get(b"authorization", b""))
    return match.group(1).decode() if match else DEFAULT_REGION


def _token(text: str) -> int:
    if not text.isdigit():
        raise invalid("The nextToken is not valid.")
    return int(text)
