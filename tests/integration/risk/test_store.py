"""risk/store.py on a real PostgreSQL: rows created on first use (also by two managers at once),
only changed rows written (updated_at as the ORM's onupdate set it), a stored JSON null kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg

from core.clock import ManualClock
from core.settings import load_settings
from risk.manager import RiskManager
from shared_data.db import create_engine, session_factory, to_plain_url

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
SETTINGS = load_settings(daily_loss_limit_usd=Decimal("200"), max_consecutive_losses=3)


async def test_rows_are_created_on_first_use_and_only_changed_rows_are_written(db_url: str) -> None:
    engines = [create_engine(db_url, pool_size=2) for _ in range(2)]
    one, two = (RiskManager(session_factory(e), SETTINGS, clock=ManualClock(T0)) for e in engines)
    conn = await asyncpg.connect(to_plain_url(db_url))
    try:
        assert await conn.fetch("SELECT breaker FROM risk_state") == []
        # Two processes' first exits at once: one creates the rows, the other waits on their locks.
        await asyncio.gather(one.record_exit(Decimal("-10"), T0), two.record_exit(Decimal("-15"), T0))
        counters = (await one.state()).counters
        assert (counters.consecutive_losses, counters.realized_pnl_usd) == (2, Decimal("-25"))
        assert {r["breaker"] for r in await conn.fetch("SELECT breaker FROM risk_state")} == {
            "daily_loss", "losing_streak"}

        # Nothing to change (no breaker tripped, the streak already 0 after a win): no row is rewritten.
        await one.record_exit(Decimal("5"), T0)
        before = dict(await conn.fetch("SELECT breaker, updated_at FROM risk_state"))
        await one.resume()  # kill switch and losing streak: the first is created, the second unchanged
        after = dict(await conn.fetch("SELECT breaker, updated_at FROM risk_state"))
        assert set(after) == {"daily_loss", "losing_streak", "kill_switch"}
        assert after["losing_streak"] == before["losing_streak"]

        # A halt writes its row's flags, not its details: a stored JSON null stays JSON null.
        await one.halt("x")
        await conn.execute("UPDATE risk_state SET details = 'null'::jsonb WHERE breaker = 'kill_switch'")
        await one.halt("y")
        row = await conn.fetchrow("SELECT tripped, reason, jsonb_typeof(details) AS kind FROM risk_state "
                                  "WHERE breaker = 'kill_switch'")
        assert (row["tripped"], row["reason"], row["kind"]) == (True, "y", "null")
        events = await conn.fetch("SELECT breaker, event, reason FROM risk_events ORDER BY id")
        assert [tuple(e) for e in events] == [("kill_switch", "trip", "x"), ("kill_switch", "trip", "y")]
    finally:
        await conn.close()
        for engine in engines:
            await engine.dispose()
