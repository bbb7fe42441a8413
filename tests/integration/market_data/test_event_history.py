"""trailing_stop_events / exit_events on a real PostgreSQL: written with the state or not at all,
read back newest first, counted for /health/trailing_stop, pruned by retention, served to the dashboard."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ManualClock
from core.enums import TrailingState
from market_data.market_cache import MarketCache
from market_data.stop_events import ExitEvent, ExitEventKind, TrailingEventKind, trailing_event
from market_data.trailing_stop import start_trailing
from market_data.trailing_store import EventBatch, TrailingStore
from reports.dashboard.events import event_routes
from shared_data.event_store import event_counts_since, prune_events, recent_events
from webhook.trailing_health import TrailingHistoryHealth

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


async def _count(sessions: async_sessionmaker[AsyncSession], sql: str) -> int:
    async with sessions() as session:
        return int((await session.execute(text(sql))).scalar_one())


async def test_state_and_events_commit_together_or_not_at_all(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    store = TrailingStore(db_sessions)
    stop = start_trailing("ATOM-USD", D("10"), D("10"), None, NOW)
    good = trailing_event(stop, TrailingEventKind.CREATED, NOW, price=D("10"))
    bad = replace(good, symbol="X" * 40)  # longer than the column: the insert fails inside the transaction
    with pytest.raises(asyncpg.PostgresError, match="too long"):  # sent through the driver
        await store.write([stop], [], EventBatch((good, bad)))
    assert await _count(db_sessions, "SELECT count(*) FROM trailing_stop_state WHERE symbol='ATOM-USD'") == 0
    assert await _count(db_sessions, "SELECT count(*) FROM trailing_stop_events WHERE symbol='ATOM-USD'") == 0
    await store.write([stop], [], EventBatch((good,)))
    async with db_sessions() as session:
        same = (await session.execute(text(
            "SELECT s.xmin::text = e.xmin::text FROM trailing_stop_state s JOIN trailing_stop_events e "
            "USING (symbol) WHERE symbol='ATOM-USD'"))).scalar_one()
    assert same  # one transaction wrote both


async def test_recent_events_counts_and_retention(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    store = TrailingStore(db_sessions)
    stop = start_trailing("DOT-USD", D("5"), D("5"), None, NOW - timedelta(days=100))
    old = trailing_event(stop, TrailingEventKind.CREATED, NOW - timedelta(days=100))
    await store.write([stop], [], EventBatch((old,), (ExitEvent("DOT-USD", ExitEventKind.FAILED,
                                                                 NOW - timedelta(days=100), "hard_stop"),)))
    active = replace(stop, state=TrailingState.ACTIVE, current_stop=D("5.1"))
    recent = [trailing_event(active, TrailingEventKind.ACTIVATED, NOW - timedelta(minutes=30), stop_after=D("5.1")),
              trailing_event(active, TrailingEventKind.STOP_MOVED, NOW - timedelta(minutes=10), stop_before=D("5.1"),
                             stop_after=D("5.2"))]
    await store.write([active], [], EventBatch(tuple(recent), (
        ExitEvent("DOT-USD", ExitEventKind.DECIDED, NOW - timedelta(minutes=5), "trailing_stop"),)))
    async with db_sessions() as session:
        entries = await recent_events(session, "DOT-USD", 3)
        counts = await event_counts_since(session, NOW - timedelta(hours=1))
    assert [(e.source, e.kind) for e in entries] == [("exit", "decided"), ("trailing", "stop_moved"),
                                                     ("trailing", "activated")]
    # (ATOM-USD's creation, at NOW, is in the hour too)
    assert counts["trailing"] == {"created": 1, "activated": 1, "stop_moved": 1} and counts["exit"] == {"decided": 1}
    assert await prune_events(db_sessions, NOW - timedelta(days=90)) == 2
    async with db_sessions() as session:
        left = await recent_events(session, "DOT-USD", 50)
    assert [e.kind for e in left] == ["decided", "stop_moved", "activated"]


async def test_health_reports_stale_stops(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    cache = MarketCache()
    clock = ManualClock(NOW)
    fresh = start_trailing("DOT-USD", D("5"), D("5"), None, NOW)
    quiet = start_trailing("SOL-USD", D("50"), D("50"), None, NOW)
    never = start_trailing("ADA-USD", D("1"), D("1"), None, NOW)
    cache.update("SOL-USD", D("50"), received_mono=clock.monotonic(), received_at=NOW)
    clock.advance(30)
    cache.update("DOT-USD", D("5"), received_mono=clock.monotonic(), received_at=clock.now())
    health = TrailingHistoryHealth(db_sessions, cache, lambda: [fresh, quiet, never], clock, max_age_s=10)
    body = await health.report()
    assert [s["symbol"] for s in body["stale"]] == ["ADA-USD", "SOL-USD"]
    assert body["stale"][1]["last_price_age_s"] == 30 and body["stale"][0]["last_price_age_s"] is None
    assert body["staleness_limit_s"] == 10 and "events_last_hour" in body


async def test_events_api_validates_and_answers(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    app = web.Application()
    app.add_routes(event_routes(db_sessions))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as http:
            for query in ("", "?symbol=nope", "?symbol=DOT-USD&limit=0", "?symbol=DOT-USD&limit=x",
                          "?symbol=DOT-USD&limit=201"):
                async with http.get(base + "/api/dashboard/events" + query) as resp:
                    assert resp.status == 400, query
            async with http.get(base + "/api/dashboard/events?symbol=dot-usd&limit=2") as resp:
                body = await resp.json()
            assert body["symbol"] == "DOT-USD" and len(body["events"]) == 2
            async with http.get(base + "/api/dashboard/events/symbols") as resp:
                listing = await resp.json()
            assert "DOT-USD" in listing["symbols"] and "DOT-USD" in listing["open"]
    finally:
        await runner.cleanup()
