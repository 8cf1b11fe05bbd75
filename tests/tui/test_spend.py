"""The Spend screen against a real gateway: the date-range picker, top spenders, burn-down and near-limit users."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input, Select, Static

from llmgw.server.core.periods import period_bounds
from llmgw.server.store.models import QuotaLedger, RequestRecord
from llmgw.tui.app import GatewayApp
from llmgw.tui.screens.spend import SpendScreen
from llmgw.tui.widgets.spend_chart import SpendChart
from llmgw.v1 import quota_pb2, quota_service_pb2, quota_service_pb2_grpc
from tests.model_ids import HAIKU
from tests.support import GatewayThread, bearer
from tests.tui.conftest import UserFactory, until

PICO = 10**12


def column(table: DataTable[str], user: str, index: int) -> str:
    """One cell of the user's row."""
    keys = [str(table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value) for row in range(table.row_count)]
    return str(table.get_row_at(keys.index(user))[index])


async def test_range_top_spenders_burn_down_and_near_limit(gateway: GatewayThread, fresh_user: UserFactory) -> None:
    """Typed dates pick the range; the user is the top spender there; at 90% of a daily limit they are near it."""
    user = fresh_user("burner")
    admin_key = gateway.create_key("root", fresh_user("admin-key"))
    gateway.create_key(user, "laptop")
    with gateway.channel() as channel:
        quota_service_pb2_grpc.QuotaServiceStub(channel).SetQuota(
            quota_service_pb2.SetQuotaRequest(user=user, frequency=quota_pb2.QUOTA_FREQUENCY_DAILY, limit_usd="1"),
            metadata=bearer(admin_key),
        )
    start, end = period_bounds("daily", datetime.now(UTC))
    QuotaLedger.create(user=user, period_start=start, spent_picodollars=9 * PICO // 10)
    RequestRecord.create(
        id=f"chatcmpl-{user}",
        user=user,
        key_name="laptop",
        model=HAIKU,
        api="chat",
        input_tokens=1,
        output_tokens=1,
        cost_picodollars=9000 * PICO,
        latency_ms=10,
        outcome="success",
        created_at=datetime(2024, 2, 29, 12, tzinfo=UTC),
    )
    app = GatewayApp(gateway.grpc_target, admin_key)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.session is not None, "the sign-in")
        await pilot.press("f10")
        await until(pilot, lambda: isinstance(app.screen, SpendScreen), "the spend screen")
        screen = app.screen
        near = screen.query_one("#near", DataTable)
        await until(pilot, lambda: user in {str(k.value) for k in near.rows}, "the user near their limit")
        assert column(near, user, 1) == "90%"
        assert column(near, user, 3) == "$0.90"
        run_out = column(near, user, 5)
        assert run_out == "now" or start.strftime("%Y-%m-%d") <= run_out <= end.strftime("%Y-%m-%d %H:%M")
        burn = screen.query_one("#burn", DataTable)
        assert column(burn, user, 6) == end.strftime("%Y-%m-%d")

        screen.query_one("#preset", Select).value = 0
        screen.query_one("#start", Input).value = "2024-02-28"
        screen.query_one("#end", Input).value = "2024-03-01"
        screen.query_one("#end", Input).focus()
        await pilot.press("enter")
        totals = screen.query_one("#totals", Static)
        await until(pilot, lambda: "from 2024-02-28 to 2024-03-01" in str(totals.content), "the typed range")
        top_users = screen.query_one("#top-users", SpendChart)
        assert top_users._rows[0] == (user, "9000")
        by_day = screen.query_one("#by-day", SpendChart)
        assert [label for label, _ in by_day._rows] == ["2024-02-28", "2024-02-29", "2024-03-01"]
