"""Tests for llmgw.server.store.usage_repo: the model filter matches part of an id, case ignored, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import peewee
import pytest

from llmgw.server.store.models import RequestRecord
from llmgw.server.store.usage_repo import (
    RequestFilter,
    list_requests,
    top_spenders,
    totals_by_day,
    totals_by_model,
)

DAY0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
OPUS_41 = "us.anthropic.claude-opus-4-1-20250805-v1:0"
OPUS_3 = "anthropic.claude-3-OPUS-20240229-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
# Ids with LIKE's wildcards and the escape character in them, as a caller could send.
UNDERSCORED = "custom_model%v1!x"
LOOKALIKE = "customXmodelYv1x"


def _record(number: int, model: str, *, key_name: str = "laptop", user: str = "ann") -> None:
    RequestRecord.create(
        id=f"chatcmpl-{number:04d}",
        user=user,
        key_name=key_name,
        model=model,
        api="chat",
        input_tokens=10,
        output_tokens=5,
        cost_picodollars=1_000_003 * (number + 1),
        latency_ms=7,
        ttft_ms=None,
        outcome="success",
        created_at=DAY0 + timedelta(hours=number * 13),
    )


def _seed() -> None:
    for number, model in enumerate([OPUS_41, OPUS_3, SONNET, UNDERSCORED, LOOKALIKE, OPUS_41]):
        _record(number, model, key_name="laptop" if number % 2 else "ci", user="ann" if number < 4 else "bob")


def _models(selected: RequestFilter) -> list[str]:
    return sorted(record.model for record in list_requests(selected, 100))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("opus", [OPUS_3, OPUS_41, OPUS_41]),
        ("OPUS-4", [OPUS_41, OPUS_41]),
        ("Sonnet", [SONNET]),
        ("_model%", [UNDERSCORED]),  # not "any character", "any text"
        ("m_m", [UNDERSCORED]),
        ("1!x", [UNDERSCORED]),  # the escape character is literal too
        ("%", [UNDERSCORED]),
        (OPUS_3.lower(), [OPUS_3]),
        ("haiku", []),
    ],
)
def test_model_filter_is_a_case_insensitive_substring(
    store_db: peewee.Database, typed: str, expected: list[str]
) -> None:
    """A part of the id finds every model containing it, whatever the case; %, _ and ! match only themselves."""
    _seed()
    assert _models(RequestFilter(model=typed)) == sorted(expected)


def test_summaries_agree_with_the_filtered_rows(store_db: peewee.Database) -> None:
    """Per-model, per-day and per-user totals under a model filter add up to the rows that filter lists."""
    _seed()
    selected = RequestFilter(model="OPUS", start_time=DAY0, end_time=DAY0 + timedelta(days=30))
    rows = list_requests(selected, 100)
    cost = sum(row.cost_picodollars for row in rows)
    by_model = totals_by_model(selected)
    assert {total.model for total in by_model} == {OPUS_41, OPUS_3}
    assert (sum(total.requests for total in by_model), sum(total.cost_picodollars for total in by_model)) == (
        len(rows),
        cost,
    )
    by_day = totals_by_day(selected)
    assert (sum(total.requests for total in by_day), sum(total.cost_picodollars for total in by_day)) == (
        len(rows),
        cost,
    )
    users = top_spenders(selected, 10, by_key=False)
    assert sum(total.cost_picodollars for total in users) == cost
    assert {total.user for total in users} == {"ann", "bob"}


def test_key_filter_matches_the_whole_name(store_db: peewee.Database) -> None:
    """Key names are exact: `lap` finds nothing, `laptop` finds its rows, and combines with the model filter."""
    _seed()
    assert list_requests(RequestFilter(key_name="lap"), 100) == []
    laptop = RequestFilter(key_name="laptop", model="opus")
    assert _models(laptop) == [OPUS_3, OPUS_41]
    keys = top_spenders(laptop, 10, by_key=True)
    assert sorted((total.user, total.key_name, total.requests) for total in keys) == [
        ("ann", "laptop", 1),
        ("bob", "laptop", 1),
    ]
