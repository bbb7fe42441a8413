"""shared_data.direct: single statements on the pool's connection, past the ORM — committed by
themselves, exact NUMERIC and timestamptz round trips, JSONB in as text and out parsed, atomic executemany."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared_data import direct
from shared_data.db import read_session

TABLE = """CREATE TABLE IF NOT EXISTS direct_probe (
    id integer PRIMARY KEY, amount numeric(38, 18), at timestamptz, doc jsonb)"""


@pytest.fixture(scope="module")
async def table(db_sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    await direct.execute(db_sessions, TABLE)
    return db_sessions


async def test_statement_commits_by_itself_and_round_trips_values(table: async_sessionmaker[AsyncSession]) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    status = await direct.execute(table, "INSERT INTO direct_probe VALUES ($1, $2, $3, $4::jsonb)",
                                  1, Decimal("12345.000000000000000001"), at, json.dumps({"k": [1, "2"]}))
    assert status == "INSERT 0 1"
    # Another session (another connection) sees it: nothing was left in an open transaction.
    async with read_session(table) as session:
        row = (await session.execute(text("SELECT amount, at, doc FROM direct_probe WHERE id = 1"))).one()
    assert row.amount == Decimal("12345.000000000000000001")
    assert row.at == at
    assert row.doc == {"k": [1, "2"]}
    back = await direct.fetchrow(table, "SELECT amount, at, doc FROM direct_probe WHERE id = $1", 1)
    assert back is not None
    assert back["amount"] == Decimal("12345.000000000000000001") and back["at"] == at
    assert back["doc"] == {"k": [1, "2"]}  # the dialect's codec parses JSONB
    assert await direct.fetchrow(table, "SELECT 1 FROM direct_probe WHERE id = $1", 99) is None


async def test_executemany_is_all_or_nothing(table: async_sessionmaker[AsyncSession]) -> None:
    sql = "INSERT INTO direct_probe (id, amount) VALUES ($1, $2)"
    await direct.executemany(table, sql, [(10, Decimal("1")), (11, Decimal("2"))])
    with pytest.raises(asyncpg.UniqueViolationError):
        await direct.executemany(table, sql, [(12, Decimal("3")), (10, Decimal("4"))])
    rows = await direct.fetch(table, "SELECT id, amount FROM direct_probe WHERE id >= 10 ORDER BY id")
    assert [(r["id"], r["amount"]) for r in rows] == [(10, Decimal("1")), (11, Decimal("2"))]
    await direct.executemany(table, sql, [])  # nothing to send: no statement


async def test_a_failed_statement_leaves_the_pool_usable(table: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(asyncpg.UndefinedTableError):
        await direct.fetch(table, "SELECT * FROM no_such_table")
    for _ in range(8):  # more than the pool holds: every connection went back clean
        assert (await direct.fetchrow(table, "SELECT count(*) AS n FROM direct_probe WHERE id = $1", 1))["n"] == 1
