from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bench.failover import _config, _log_ttft
from llmgw.server.settings import Settings
from llmgw.server.store.db import DATABASE_FILE_NAME, open_database
from llmgw.server.store.models import RequestRecord


def _row(number: int, attempts: int, region: str, ttft_ms: int | None, outcome: str = "success") -> dict[str, object]:
    return {
        "id": f"chatcmpl-{number}",
        "user": "bench",
        "key_name": "bench",
        "model": "m",
        "api": "chat_stream",
        "input_tokens": 1,
        "output_tokens": 1,
        "cost_picodollars": 1,
        "latency_ms": 1,
        "ttft_ms": ttft_ms,
        "outcome": outcome,
        "created_at": datetime.now(UTC),
        "region": region,
        "upstream_model": "m",
        "attempts": attempts,
    }


def test_log_ttft_splits_first_attempts_from_failovers(tmp_path: Path) -> None:
    """The request log's TTFT is split by attempts; failures are counted, not timed."""
    db = open_database(None, tmp_path)
    try:
        rows = [
            _row(1, 1, "us-east-1", 100),
            _row(2, 1, "us-east-1", 300),
            _row(3, 2, "us-west-2", 350),
            _row(4, 1, "us-west-2", 200),
            _row(5, 1, "us-east-1", None, outcome="error"),
        ]
        RequestRecord.insert_many(rows).execute()
    finally:
        db.close()
    split = _log_ttft(tmp_path / DATABASE_FILE_NAME)
    assert split == {
        "logged_failures": 1,
        "first_attempt": 3,
        "failed_over": 1,
        "west_answered": 2,
        "ttft_p50_first_attempt_ms": 200.0,
        "ttft_p50_failed_over_ms": 350.0,
    }


def test_config_routes_east_then_west(tmp_path: Path) -> None:
    """The gateway settings the benchmark writes load, with the route over both fakes."""
    path = tmp_path / "gateway.toml"
    _config(path, 9101, 9102)
    settings = Settings.load(path, environ={})
    assert settings.bedrock_endpoint_url == "http://127.0.0.1:9101"
    assert [(target.region, target.model) for target in settings.routes[0].targets] == [
        ("us-east-1", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("us-west-2", "us.anthropic.claude-3-haiku-20240307-v1:0"),
    ]
