"""The trailing writer's batch past PostgreSQL's parameter limit (its own database: it leaves rows)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import market_data.trailing_sql as trailing_sql
from market_data.stop_events import ExitEvent, ExitEventKind, TrailingEventKind, trailing_event
from market_data.trailing_stop import start_trailing
from market_data.trailing_store import EventBatch, TrailingStore

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


async def _count(sessions: async_sessionmaker[AsyncSession], sql: str) -> int:
    async with sessions() as session:
        return int((await session.execute(text(sql))).scalar_one())


async def test_a_batch_past_the_parameter_limit_is_split_in_one_transaction(
        db_sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch) -> None:
    """A backlog too large for one statement (PostgreSQL's 32,767 parameters) is written as several
    statements in one transaction: the same rows, and still all or nothing."""
    monkeypatch.setattr(trailing_sql, "MAX_ARGS", 40)  # a few rows per statement
    store = TrailingStore(db_sessions)
    stops = [start_trailing(f"S{i}-USD", D("10"), D("10"), None, NOW) for i in range(7)]
    events = tuple(trailing_event(s, TrailingEventKind.CREATED, NOW + timedelta(seconds=i), price=D("10"))
                   for i, s in enumerate(stops))
    exits = tuple(ExitEvent(symbol=s.symbol, kind=ExitEventKind.DECIDED, at=NOW, reason="signal") for s in stops)
    assert len(trailing_sql.batch_statements(stops, ["GONE-USD"], events, exits)) > 3
    bad = replace(events[-1], symbol="X" * 40)
    with pytest.raises(asyncpg.PostgresError, match="too long"):
        await store.write(stops, [], EventBatch((*events[:-1], bad), exits))
    assert await _count(db_sessions, "SELECT count(*) FROM trailing_stop_events WHERE symbol LIKE 'S_-USD'") == 0
    assert await _count(db_sessions, "SELECT count(*) FROM trailing_stop_state WHERE symbol LIKE 'S_-USD'") == 0
    await store.write(stops, ["GONE-USD"], EventBatch(events, exits))
    assert await _count(db_sessions, "SELECT count(*) FROM trailing_stop_state WHERE symbol LIKE 'S_-USD'") == 7
    assert await _count(db_sessions, "SELECT count(*) FROM trailing_stop_events WHERE symbol LIKE 'S_-USD'") == 7
    assert await _count(db_sessions, "SELECT count(*) FROM exit_events WHERE symbol LIKE 'S_-USD'") == 7
    async with db_sessions() as session:
        order = (await session.execute(text(
            "SELECT symbol FROM trailing_stop_events WHERE symbol LIKE 'S_-USD' ORDER BY id"))).scalars().all()
    assert order == [s.symbol for s in stops]  # ids rise in the batch's order across statements
