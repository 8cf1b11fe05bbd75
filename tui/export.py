"""Writing the request log to a CSV file: every page that matches the filters, oldest row last."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from llmgw.tui.client import GatewayClient
from llmgw.tui.format import OUTCOME_NAMES, moment
from llmgw.v1 import request_record_pb2, usage_service_pb2

EXPORT_PAGE_SIZE = 1000
HEADER = (
    "id",
    "created_at",
    "user",
    "key_name",
    "model",
    "api",
    "outcome",
    "error_reason",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
    "service_tier",
    "upstream_model",
    "session_id",
)


def _row(record: request_record_pb2.RequestRecord) -> list[str]:
    return [
        record.id,
        moment(record.created_at),
        record.user,
        record.key_name,
        record.model,
        record.api,
        OUTCOME_NAMES.get(record.outcome, "unknown"),
        record.error_reason,
        str(record.input_tokens),
        str(record.output_tokens),
        str(record.cache_read_tokens),
        str(record.cache_write_tokens),
        record.cost_usd,
        str(record.latency_ms),
        str(record.ttft_ms) if record.HasField("ttft_ms") else "",
        record.service_tier,
        record.upstream_model,
        record.session_id,
    ]


async def export_requests(
    client: GatewayClient, filters: usage_service_pb2.ListRequestsRequest, folder: Path, now: datetime
) -> tuple[Path, int]:
    """Write the matching requests, newest first, to a new CSV file in `folder`; return its path and row count.

    Costs are the exact decimal strings the gateway sent; times are UTC. The file is
    written under a temporary name and renamed once complete, so a failed export
    leaves no half file behind.
    """
    request = usage_service_pb2.ListRequestsRequest()
    request.CopyFrom(filters)
    request.page_size = EXPORT_PAGE_SIZE
    request.page_token = ""
    path = folder / f"llmgw-requests-{now:%Y%m%d-%H%M%S}.csv"
    partial = path.with_suffix(".csv.partial")
    count = 0
    try:
        with partial.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(HEADER)
            while True:
                page = await client.list_requests(request)
                writer.writerows(_row(record) for record in page.records)
                count += len(page.records)
                if not page.next_page_token:
                    break
                request.page_token = page.next_page_token
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path, count
