"""A working order on the dashboard, rendered by the page's JavaScript in headless Chromium."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.enums import OrderSource, Side
from tests.e2e.test_dashboard_browser import run_chromium, section
from tests.integration.reports.dashboard_fixture import dashboard_data, dashboard_settings, serve
from webhook.working_orders import store
from webhook.working_orders.types import EntryOrderType, Purpose, Step, StepKind, WorkingOrder


async def test_working_entry_is_rendered_with_its_re_prices_and_last_step(
        db_sessions: async_sessionmaker[AsyncSession]) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    wo = WorkingOrder(id="wo-browser-1", intent_key="browser:1", purpose=Purpose.ENTRY, symbol="XYZ-USD",
                      side=Side.BUY, order_type=EntryOrderType.POST_ONLY, source=OrderSource.SIGHOOK,
                      target_size=D("2.5"), started_at=now, deadline_at=now + timedelta(seconds=60),
                      limit_price=D("41.27"), order_id="o-2", reprice_count=2, child_filled=D("0.75"))
    await store.insert(db_sessions, wo, now)
    await store.save(db_sessions, wo, Step(now, StepKind.REPRICED, {"why": "best bid moved away to 41.27"}), now)
    async with serve(dashboard_data(dashboard_settings(), db_sessions)) as url:
        dom, _err = await run_chromium("--dump-dom", url + "/")
    rows = section(dom, "working-orders")
    assert "XYZ-USD" in rows and "post_only" in rows and "working" in rows
    assert "0.75" in rows and "2.5" in rows and "41.27" in rows and ">2<" in rows
    assert "repriced (best bid moved away to 41.27)" in rows
