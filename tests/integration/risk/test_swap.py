"""record_exit's one-statement write (risk/store.py `swap`) on a real PostgreSQL: it writes only while every
row it was computed from is stored as read, all rows or none, also when another writer commits while it
waits for the rows' locks; a manager whose rows are stale falls back to the locked path and counts exactly."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ManualClock
from core.settings import load_settings
from risk import store
from risk.manager import RiskManager
from risk.rules import Breaker
from shared_data.db import create_engine, session_factory, to_plain_url

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
SETTINGS = load_settings(daily_loss_limit_usd=Decimal("100000"), max_consecutive_losses=1000)


async def _rows(conn: asyncpg.Connection) -> dict[str, tuple[object, ...]]:
    return {r["breaker"]: (r["tripped"], r["reason"], r["details"], r["tripped_at"], r["updated_at"])
            for r in await conn.fetch("SELECT * FROM risk_state")}


async def _connect(db_url: str) -> asyncpg.Connection:
    """A plain connection that reads JSONB as the daemon's connections do; the risk tables emptied."""
    conn = await asyncpg.connect(to_plain_url(db_url))
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.execute("TRUNCATE risk_state, risk_events")
    return conn


def _locked(conn_rows: dict[str, tuple[object, ...]]) -> dict[Breaker, store.LockedRow]:
    return {Breaker(b): store.LockedRow(v[0], v[1], v[2], v[3]) for b, v in conn_rows.items()  # type: ignore[arg-type]
            if b in ("daily_loss", "losing_streak")}


async def test_swap_writes_all_rows_or_none(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=2)
    sessions = session_factory(engine)
    risk = RiskManager(sessions, SETTINGS, clock=ManualClock(T0))
    conn = await _connect(db_url)
    try:
        await risk.record_exit(Decimal("-1"), T0)  # creates both rows
        rows = _locked(await _rows(conn))
        rows[Breaker.DAILY_LOSS].details = {"day": "2026-03-02", "realized_pnl_usd": "-3"}
        rows[Breaker.LOSING_STREAK].details = {"consecutive_losses": 2}
        # The unchanged-looking streak row differs in the database: nothing at all is written.
        await conn.execute("UPDATE risk_state SET reason = 'other writer' WHERE breaker = 'losing_streak'")
        before = await _rows(conn)
        assert await store.swap(sessions, rows) is False
        assert await _rows(conn) == before
        # Read again: written, both rows, with updated_at moved.
        rows = _locked(before)
        rows[Breaker.DAILY_LOSS].details = {"day": "2026-03-02", "realized_pnl_usd": "-3"}
        assert await store.swap(sessions, rows) is True
        after = await _rows(conn)
        assert after["daily_loss"][2] == {"day": "2026-03-02", "realized_pnl_usd": "-3"}
        assert after["daily_loss"][4] > before["daily_loss"][4]
        assert after["losing_streak"] == before["losing_streak"]  # unchanged: not rewritten
        # A stored JSON null is not what a row read as SQL NULL expects.
        await conn.execute("UPDATE risk_state SET details = 'null'::jsonb WHERE breaker = 'losing_streak'")
        rows = _locked(await _rows(conn))
        assert rows[Breaker.LOSING_STREAK].details is None
        rows[Breaker.DAILY_LOSS].details = {"day": "2026-03-02", "realized_pnl_usd": "-4"}
        assert await store.swap(sessions, rows) is False
    finally:
        await conn.close()
        await engine.dispose()


async def test_swap_sees_a_change_committed_while_it_waits_for_the_lock(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=2)
    sessions = session_factory(engine)
    risk = RiskManager(sessions, SETTINGS, clock=ManualClock(T0))
    other = await _connect(db_url)
    try:
        await risk.record_exit(Decimal("-1"), T0)
        rows = _locked(await _rows(other))
        rows[Breaker.DAILY_LOSS].details = {"day": "2026-03-02", "realized_pnl_usd": "-9"}
        tx = other.transaction()
        await tx.start()
        await other.execute("UPDATE risk_state SET details = $1::jsonb WHERE breaker = 'daily_loss'",
                            {"day": "2026-03-02", "realized_pnl_usd": "-2"})
        waiting = asyncio.create_task(store.swap(sessions, rows))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # blocked on the other transaction's row lock
        await tx.commit()
        assert await waiting is False
        stored = await other.fetchval("SELECT details FROM risk_state WHERE breaker = 'daily_loss'")
        assert stored == {"day": "2026-03-02", "realized_pnl_usd": "-2"}
    finally:
        await other.close()
        await engine.dispose()


async def test_concurrent_exits_of_managers_with_stale_rows_count_exactly(db_url: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The real swap, its answers counted: the run must take both the one-statement and the locked path.
    answers: list[bool] = []
    real_swap = store.swap

    async def counted(sessions: async_sessionmaker[AsyncSession], rows: dict[Breaker, store.LockedRow]) -> bool:
        answers.append(await real_swap(sessions, rows))
        return answers[-1]

    monkeypatch.setattr(store, "swap", counted)
    engines = [create_engine(db_url, pool_size=3) for _ in range(2)]
    one, two = (RiskManager(session_factory(e), SETTINGS, clock=ManualClock(T0)) for e in engines)
    await (await _connect(db_url)).close()
    await one.record_exit(Decimal("-1"), T0)
    await two.state()  # both know the rows now; each exit below makes the other's knowledge stale
    try:
        losses = [Decimal(i) for i in range(1, 21)]
        await asyncio.gather(*(m.record_exit(-p, T0) for p in losses for m in (one, two)))
        counters = (await one.state()).counters
        assert counters.realized_pnl_usd == -1 - 2 * sum(losses)
        assert counters.consecutive_losses == 1 + 2 * len(losses)
        assert True in answers  # the first write to commit was made on rows known to be current
        await one.record_exit(Decimal("-2"), T0)
        await two.record_exit(Decimal("-3"), T0)  # two's rows are stale after one's exit
        assert answers[-1] is False
        counters = (await one.state()).counters
        assert (counters.realized_pnl_usd, counters.consecutive_losses) == (-6 - 2 * sum(losses), 3 + 2 * len(losses))
        await two.record_exit(Decimal("-5"), T0)  # now two knows the rows it wrote: one statement
        assert answers[-1] is True
    finally:
        for engine in engines:
            await engine.dispose()


async def test_exits_and_resumes_of_three_managers_at_once_neither_fail_nor_lose_an_exit(db_url: str) -> None:
    # Exits lock daily_loss and losing_streak, a resume kill_switch and losing_streak, the one-statement and
    # the locked path mixed; every writer locks in the breakers' order, so none waits crosswise for another
    # (a deadlock would fail one of them). A smoke test: it does not force the crosswise order itself.
    engines = [create_engine(db_url, pool_size=3) for _ in range(3)]
    one, two, cli = (RiskManager(session_factory(e), SETTINGS, clock=ManualClock(T0)) for e in engines)
    await (await _connect(db_url)).close()
    await cli.resume()
    await one.record_exit(Decimal("-1"), T0)
    await two.state()
    try:
        losses = [Decimal(i) for i in range(1, 16)]
        exits = [m.record_exit(-p, T0) for p in losses for m in (one, two)]
        await asyncio.gather(*exits, *(cli.resume() for _ in range(10)))
        assert (await cli.state()).counters.realized_pnl_usd == -1 - 2 * sum(losses)
    finally:
        for engine in engines:
            await engine.dispose()
