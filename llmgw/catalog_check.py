"""`llmgw catalog check`: compare the catalog with Bedrock's own model lists, region by region.

Prints what the catalog lacks, what changed lifecycle and which inference profiles
exist that the catalog does not have, for every region named with --region (default:
AWS_REGION). Exit status 0 when nothing differs, 1 on drift (so a scheduled job can
alert on it), 2 when a list cannot be read.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from llmgw.server.app import bedrock_config
from llmgw.server.core.catalog import Catalog
from llmgw.server.core.catalog_drift import RegionListing, compare_region, unlisted
from llmgw.server.providers.bedrock.client import BedrockClientConfig
from llmgw.server.providers.bedrock.control_plane import read_region
from llmgw.server.settings import Settings
from llmgw.wire.errors import UpstreamError

EXIT_CLEAN, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2


def check(
    settings: Settings,
    regions: list[str] | None,
    out: TextIO = sys.stdout,
    read: Callable[[BedrockClientConfig], RegionListing] = read_region,
) -> int:
    """Compare, print a report, and return the exit status."""
    catalog = Catalog.load()
    today = datetime.now(UTC).date()
    base = bedrock_config(settings)
    listings: list[RegionListing] = []
    for region in regions or [settings.aws_region]:
        try:
            listings.append(read(dataclasses.replace(base, region=region)))
        except UpstreamError as exc:
            print(f"llmgw catalog check: {exc.message}", file=sys.stderr)
            return EXIT_ERROR
    drifted = False
    for listing in listings:
        drift = compare_region(catalog, listing, today)
        drifted = drifted or drift.found
        if not drift.found:
            print(
                f"{listing.region}: no drift ({len(listing.models)} models, {len(listing.profile_ids)} profiles)",
                file=out,
            )
            continue
        print(f"{listing.region}: drift", file=out)
        _section(out, "missing from the catalog", drift.missing)
        _section(out, "lifecycle changed", drift.lifecycle)
        _section(out, "profiles the catalog lacks", drift.profiles)
    gone = unlisted(catalog, listings, today)
    if gone:
        drifted = True
        _section(out, "not listed in any checked region", gone)
    return EXIT_DRIFT if drifted else EXIT_CLEAN


def _section(out: TextIO, title: str, lines: tuple[str, ...]) -> None:
    if lines:
        print(f"  {title} ({len(lines)}):", file=out)
        for line in lines:
            print(f"    {line}", file=out)
