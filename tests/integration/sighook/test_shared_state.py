"""shared_data repository and SharedStateListener on a real PostgreSQL (LISTEN/NOTIFY, poll, reconnect)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ManualClock
from shared_data.db import to_plain_url, unit_of_work
from shared_data.shared_state import (
    LISTENER_APPLICATION_NAME,
    MARKET_DATA,
    MarketSnapshot,
    SharedStateListener,
    jsonable,
    load,
    load_with_time,
    market_data_payload,
    publish,
)
from sighook.matrix import MATRIX_SCHEMA, MATRIX_SCHEMA_VERSION

T0 = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def market_data(computed_at: datetime, decision: str = "sell", atr: str = "41.5") -> dict[str, Any]:
    matrix = {"schema": MATRIX_SCHEMA, "schema_version": MATRIX_SCHEMA_VERSION, "computed_at": computed_at,
              "rows": {"BTC-USD": {"decision": decision, "atr": Decimal(atr), "close": Decimal("64000.10")}}}
    return market_data_payload(matrix, {"BTC-USD": {"price": Decimal("64000.10")}}, computed_at)


async def test_publish_upserts_and_load_reads_back(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(db_sessions) as s:
        await publish(s, "test_doc", {"price": Decimal("0.000000010"), "when": T0, "n": 1})
    async with unit_of_work(db_sessions) as s:
        await publish(s, "test_doc", {"price": Decimal("2.50"), "when": T0, "n": 2})
    async with db_sessions() as s:
        assert await load(s, "test_doc") == {"price": "2.5", "when": "2026-11-21T15:00:00Z", "n": 2}
        found = await load_with_time(s, "test_doc")
        assert found is not None and found[1].tzinfo is not None
        assert await load(s, "absent") is None


async def test_notify_is_sent_on_commit_only(db_url: str, db_sessions: async_sessionmaker[AsyncSession]) -> None:
    conn = await asyncpg.connect(to_plain_url(db_url))
    got: list[str] = []
    try:
        await conn.add_listener("shared_data_changed", lambda *args: got.append(args[3]))
        try:
            async with unit_of_work(db_sessions) as s:
                await publish(s, "rolled_back", {"x": 1})
                raise RuntimeError("abort")
        except RuntimeError:
            pass
        async with unit_of_work(db_sessions) as s:
            await publish(s, "committed", {"x": 1})
        deadline = time.monotonic() + 5
        while "committed" not in got and time.monotonic() < deadline:
            await conn.execute("SELECT 1")  # let the connection read pending notifications
        assert got == ["committed"]
        async with db_sessions() as s:
            assert await load(s, "rolled_back") is None
    finally:
        await conn.close()


async def test_listener_sees_a_publish_via_notify(db_url: str, db_sessions: async_sessionmaker[AsyncSession]) -> None:
    now = datetime.now(UTC)
    # A poll interval far beyond the test: only NOTIFY can deliver the update.
    async with SharedStateListener(db_url, matrix_max_age_s=300, poll_interval_s=3600) as listener:
        await _first_load(listener, db_sessions, now)
        started = time.perf_counter()
        async with unit_of_work(db_sessions) as s:
            await publish(s, MARKET_DATA, market_data(now, decision="buy", atr="7"))
        await wait_until(listener, lambda snap: snap.signals["BTC-USD"].atr == Decimal(7))
        latency = time.perf_counter() - started
        print(f"\nshared_state NOTIFY → listener reload latency: {latency * 1000:.1f} ms")
        signal = listener.signal("btc-usd")
        assert signal is not None and signal.sell is False and signal.atr == Decimal(7)
        assert listener.health()["connected"] is True and listener.health()["notifications"] >= 1


async def _first_load(listener: SharedStateListener, sessions: async_sessionmaker[AsyncSession],
                      computed_at: datetime) -> int:
    async with unit_of_work(sessions) as s:
        await publish(s, MARKET_DATA, market_data(computed_at))
    return await wait_until(listener, lambda snap: snap.computed_at == computed_at)


async def wait_until(listener: SharedStateListener, predicate: Callable[[MarketSnapshot], bool],
                     timeout: float = 5.0) -> int:
    """Wait for reloads until the latest document satisfies `predicate` (TimeoutError after `timeout`)."""
    deadline = time.monotonic() + timeout
    version = listener.version
    while True:
        snap = listener.latest_unchecked()
        if snap is not None and predicate(snap):
            return version
        version = await listener.wait_for_version(version, timeout=max(0.0, deadline - time.monotonic()))


async def test_stale_matrix_counts_as_absent(db_url: str, db_sessions: async_sessionmaker[AsyncSession]) -> None:
    clock = ManualClock(T0)
    async with SharedStateListener(db_url, matrix_max_age_s=300, poll_interval_s=3600, clock=clock) as listener:
        await _first_load(listener, db_sessions, T0)
        signal = listener.signal("BTC-USD")
        assert signal is not None and signal.sell is True and signal.as_of == T0
        assert listener.signal("ETH-USD") is None
        clock.advance(301)
        assert listener.signal("BTC-USD") is None and listener.snapshot() is None
        health = listener.health()
        assert health["matrix_present"] is True and health["matrix_stale"] is True
        assert health["matrix_age_s"] == 301.0
        assert listener.latest_unchecked() is not None


async def test_poll_fallback_and_reconnect(db_url: str, db_sessions: async_sessionmaker[AsyncSession]) -> None:
    now = datetime.now(UTC)
    async with SharedStateListener(db_url, matrix_max_age_s=300, poll_interval_s=0.5, backoff_base_s=0.05,
                                   backoff_max_s=0.2) as listener:
        await _first_load(listener, db_sessions, now)
        notified = listener.health()["notifications"]
        # A write without NOTIFY (a lost notification) is picked up by the poll.
        polled_at = now + timedelta(milliseconds=1)
        doc = json.dumps(jsonable(market_data(polled_at, decision="hold")))
        async with unit_of_work(db_sessions) as s:
            await s.execute(text("UPDATE shared_data SET data = CAST(:d AS jsonb) WHERE data_type = :t"),
                            {"d": doc, "t": MARKET_DATA})
        await wait_until(listener, lambda snap: snap.computed_at == polled_at)
        assert listener.health()["notifications"] == notified  # no NOTIFY was involved
        signal = listener.signal("BTC-USD")
        assert signal is not None and signal.sell is False
        # Kill the listener's connection from the server side: it reconnects and reloads.
        admin = await asyncpg.connect(to_plain_url(db_url))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = $1", LISTENER_APPLICATION_NAME)
        finally:
            await admin.close()
        assert killed == 1
        async with unit_of_work(db_sessions) as s:
            await publish(s, MARKET_DATA, market_data(now + timedelta(seconds=1), decision="sell"))
        await wait_until(listener, lambda snap: snap.computed_at == now + timedelta(seconds=1), timeout=10.0)
        assert listener.health()["reconnects"] >= 1
        signal = listener.signal("BTC-USD")
        assert signal is not None and signal.sell is True
