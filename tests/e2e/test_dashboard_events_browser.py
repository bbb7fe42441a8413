"""The dashboard's position-history panel in a real headless Chromium: a trailing stop's events,
written through the daemon's own store (state and events in one transaction), rendered by the page's
script from /api/dashboard/events; a screenshot is saved to test-artifacts/dashboard-events.png."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal as D

import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ManualClock
from core.enums import ExitReason, TrailingState
from market_data.stop_events import ExitEvent, ExitEventKind, TrailingEventKind, trailing_event
from market_data.trailing_stop import start_trailing
from market_data.trailing_store import EventBatch, TrailingStore
from reports.dashboard import dashboard_routes
from reports.dashboard.events import event_routes
from tests.e2e.test_dashboard_browser import ARTIFACTS, run_chromium, section
from tests.integration.reports.dashboard_fixture import (
    NOW,
    DbDashboardData,
    dashboard_data,
    dashboard_settings,
    write_dashboard_history,
)

SYMBOL = "BTC-USD"


async def write_life(sessions: async_sessionmaker[AsyncSession]) -> None:
    """created → activated → exchange stop placed → stop moved → replaced → triggered → exit."""
    store = TrailingStore(sessions)
    t = NOW - timedelta(minutes=30)
    stop = start_trailing(SYMBOL, D("100"), D("100.2"), NOW - timedelta(hours=2), t)
    await store.write([stop], [], EventBatch((trailing_event(stop, TrailingEventKind.CREATED, t, price=D("100.2")),)))
    t += timedelta(minutes=5)
    active = replace(stop, state=TrailingState.ACTIVE, highest_price=D("104"), current_stop=D("101.92"),
                     activated_at=t)
    await store.write([active], [], EventBatch((
        trailing_event(active, TrailingEventKind.ACTIVATED, t, price=D("104"), stop_after=D("101.92")),)))
    placed = replace(active, stop_order_id="ps-1", stop_order_price=D("101.92"))
    await store.write([placed], [], EventBatch((trailing_event(
        placed, TrailingEventKind.EXCHANGE_STOP_PLACED, t, order_id="ps-1", stop_after=D("101.92"),
        detail="no protective stop yet"),)))
    t += timedelta(minutes=5)
    moved = replace(placed, highest_price=D("105.5"), current_stop=D("103.39"))
    await store.write([moved], [], EventBatch((trailing_event(
        moved, TrailingEventKind.STOP_MOVED, t, price=D("105.5"), stop_before=D("101.92"), stop_after=D("103.39")),)))
    replaced = replace(moved, stop_order_id="ps-2", stop_order_price=D("103.39"))
    await store.write([replaced], [], EventBatch((trailing_event(
        replaced, TrailingEventKind.EXCHANGE_STOP_REPLACED, t, order_id="ps-2", stop_before=D("101.92"),
        stop_after=D("103.39"), detail="improvement 1.442%; unprotected 0.021s"),)))
    t += timedelta(minutes=5)
    hit = replace(replaced, state=TrailingState.TRIGGERED)
    await store.write([hit], [], EventBatch(
        (trailing_event(hit, TrailingEventKind.TRIGGERED, t, price=D("103.3"), stop_before=D("103.39"),
                        stop_after=D("103.39")),),
        (ExitEvent(SYMBOL, ExitEventKind.DECIDED, t, ExitReason.TRAILING_STOP.value, attempt=1, order_kind="limit",
                   target_price=D("103.39"), quote_price=D("103.3"), detail="quote 103.3 ≤ trailing stop 103.39"),
         ExitEvent(SYMBOL, ExitEventKind.ORDER_SENT, t, ExitReason.TRAILING_STOP.value, attempt=1,
                   order_id="exit-1"))))


@asynccontextmanager
async def serve(data: DbDashboardData, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[str]:
    app = web.Application()
    app.add_routes(dashboard_routes(data, clock=ManualClock(NOW), poll_interval_s=2.0))
    app.add_routes(event_routes(sessions))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
async def page_url(db_sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[str]:
    await write_dashboard_history(db_sessions)
    await write_life(db_sessions)
    async with serve(dashboard_data(dashboard_settings(), db_sessions), db_sessions) as url:
        yield url + f"/?symbol={SYMBOL}"


async def test_position_history_is_rendered(page_url: str) -> None:
    dom, _err = await run_chromium("--dump-dom", page_url)
    body = section(dom, "position-events")
    kinds = re.findall(r'<tr data-kind="([a-z_]+)"', body)
    # Newest first: the exit's steps, then the stop's life back to its creation.
    assert kinds == ["order_sent", "decided", "triggered", "exchange_stop_replaced", "stop_moved",
                     "exchange_stop_placed", "activated", "created"], kinds
    assert "103.39" in body and "ps-2" in body and "trailing_stop" in body and "unprotected 0.021s" in body
    assert 'id="position-events-symbol" class="muted">BTC-USD<' in dom
    assert "<option" in dom and 'value="BTC-USD"' in dom


async def test_screenshot_shows_the_position_history(page_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard-events.png"
    shot.unlink(missing_ok=True)
    await run_chromium(f"--screenshot={shot}", "--window-size=1400,1200", page_url)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
