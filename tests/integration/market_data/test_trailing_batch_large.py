"""The trailing writer's batch is one statement of one array per column, whatever its size (its own
database: it leaves rows)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from market_data import trailing_sql
from market_data.stop_events import ExitEvent, ExitEventKind, TrailingEventKind, trailing_event
from market_data.trailing_stop import start_trailing
from market_data.trailing_store import EventBatch, TrailingStore

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
# More rows than PostgreSQL's 32,767 parameters would allow as one VALUES list (14 columns per event).
MANY = 3000


async def _count(sessions: async_sessionmaker[AsyncSession], sql: str) -> int:
    async with sessions() as session:
        return int((await session.execute(text(sql))).scalar_one())


async def test_a_backlog_past_the_parameter_limit_is_one_statement_all_or_nothing(
        db_sessions: async_sessionmaker[AsyncSession]) -> None:
    store = TrailingStore(db_sessions)
    stops = [start_trailing(f"S{i}-USD", D("10"), D("10"), None, NOW) for i in range(MANY)]
    events = tuple(trailing_event(s, TrailingEventKind.CREATED, NOW + timedelta(seconds=i), price=D("10.5"),
                                  final={"state": "inactive", "n": i} if i % 2 else None)
                   for i, s in enumerate(stops))
    exits = tuple(ExitEvent(symbol=s.symbol, kind=ExitEventKind.DECIDED, at=NOW, reason="signal", attempt=1,
                            size=D("0.5")) for s in stops)
    statement = trailing_sql.batch_statement(stops, ["GONE-USD"], events, exits)
    assert statement is not None and statement[0] == trailing_sql.BATCH_SQL  # the same text for every batch
    assert trailing_sql.batch_statement([], [], [], []) is None
    bad = replace(events[-1], symbol="X" * 40)  # too long for the column: the whole batch must fail
    with pytest.raises(asyncpg.PostgresError, match="too long"):
        await store.write(stops, [], EventBatch((*events[:-1], bad), exits))
    for table in ("trailing_stop_events", "trailing_stop_state", "exit_events"):
        assert await _count(db_sessions, f"SELECT count(*) FROM {table} WHERE symbol LIKE 'S%-USD'") == 0
    await store.write(stops, ["GONE-USD"], EventBatch(events, exits))
    for table in ("trailing_stop_events", "trailing_stop_state", "exit_events"):
        assert await _count(db_sessions, f"SELECT count(*) FROM {table} WHERE symbol LIKE 'S%-USD'") == MANY
    async with db_sessions() as session:
        rows = (await session.execute(text(
            "SELECT symbol, price, final_state, jsonb_typeof(final_state) FROM trailing_stop_events "
            "WHERE symbol LIKE 'S%-USD' ORDER BY id"))).all()
        exit_row = (await session.execute(text(
            "SELECT attempt, size, reason FROM exit_events WHERE symbol = 'S7-USD'"))).one()
    assert [r[0] for r in rows] == [s.symbol for s in stops]  # ids rise in the batch's order
    assert rows[0][1] == D("10.5") and rows[0][3] == "null"  # no final state: JSON null, as before
    assert rows[1][2] == {"state": "inactive", "n": 1}
    assert tuple(exit_row) == (1, D("0.5"), "signal")
    # A later state of the same symbol replaces the row; a save of a deleted symbol is dropped.
    moved = replace(stops[0], highest_price=D("12"))
    await store.write([moved, stops[1]], [stops[1].symbol], EventBatch())
    async with db_sessions() as session:
        states = dict((await session.execute(text(
            "SELECT symbol, highest_price FROM trailing_stop_state WHERE symbol IN ('S0-USD', 'S1-USD')"))).all())
    assert states == {"S0-USD": D("12")}
