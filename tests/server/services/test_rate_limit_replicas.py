"""Two gateway processes on one PostgreSQL database share each user's rate limit."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import grpc
import peewee
import pytest

from llmgw.fakebedrock.server import FakeBedrockServer
from llmgw.v1 import quota_service_pb2, quota_service_pb2_grpc
from tests.server.services.conftest import md
from tests.server.services.test_replicas import _burst, _key, serve

RPM = 10


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_two_replicas_share_the_rpm_limit(
    store_url: str, store_db: peewee.Database, tmp_path: Path, fake_bedrock: FakeBedrockServer
) -> None:
    """40 concurrent requests split over two processes: exactly RPM pass within one minute, the rest are refused."""
    root, user = _key("root", "admin"), _key("erin", "main")
    with ExitStack() as stack:
        targets = [stack.enter_context(serve(store_url, tmp_path / f"r{n}", fake_bedrock.url))[1] for n in range(2)]
        with grpc.insecure_channel(targets[1]) as channel:
            quota_service_pb2_grpc.QuotaServiceStub(channel).SetRateLimit(
                quota_service_pb2.SetRateLimitRequest(user="erin", requests_per_minute=RPM), metadata=md(root)
            )
        started = datetime.now(UTC).replace(second=0, microsecond=0)
        codes = asyncio.run(_burst(targets, user, 40))
        ended = datetime.now(UTC).replace(second=0, microsecond=0)
    passed = codes.count(grpc.StatusCode.OK)
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    # A burst that straddles a minute boundary may use two windows (the documented 2 x RPM bound).
    assert passed == RPM if started == ended else RPM <= passed <= 2 * RPM
