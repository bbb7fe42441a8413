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


async def test_a_locked_transaction_whose_connection_died_is_not_given_back(
        table: async_sessionmaker[AsyncSession]) -> None:
    """The server ends the backend inside the block: the statement fails, so does the ROLLBACK, and the
    connection is dropped from the pool instead of reused; the next statements get a working one."""
    # What the driver raises depends on when the server's notice arrives (a lost connection, or a protocol
    # error while the notice is being read); either way the block fails.
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)):
        async with direct.locked_transaction(table, 0x5EED) as driver:
            pid = await driver.fetchval("SELECT pg_backend_pid()")
            await direct.execute(table, "SELECT pg_terminate_backend($1)", pid)
            await driver.execute("INSERT INTO direct_probe VALUES (90, 1, now(), NULL)")
    for _ in range(8):  # every connection the pool hands out works (none is the dead one)
        row = await direct.fetchrow(table, "SELECT count(*) FROM direct_probe WHERE id = 90")
        assert row is not None and row[0] == 0
    async with direct.locked_transaction(table, 0x5EED) as driver:
        await driver.execute("INSERT INTO direct_probe VALUES (91, 1, now(), NULL)")
    row = await direct.fetchrow(table, "SELECT count(*) FROM direct_probe WHERE id = 91")
    assert row is not None and row[0] == 1


async def test_a_block_that_swallowed_an_error_does_not_pass_for_committed(
        table: async_sessionmaker[AsyncSession]) -> None:
    """PostgreSQL answers COMMIT with ROLLBACK after a failed statement: the block raises, nothing is stored."""
    with pytest.raises(direct.TransactionRolledBack):
        async with direct.locked_transaction(table, 0x5EED) as driver:
            await driver.execute("INSERT INTO direct_probe VALUES (92, 1, now(), NULL)")
            with pytest.raises(asyncpg.UndefinedTableError):
                await driver.execute("SELECT * FROM no_such_table")
    row = await direct.fetchrow(table, "SELECT count(*) FROM direct_probe WHERE id = 92")
    assert row is not None and row[0] == 0


async def test_a_connection_left_in_a_transaction_is_dropped_not_handed_out(
        table: async_sessionmaker[AsyncSession]) -> None:
    """A block that ends inside a transaction (its ROLLBACK cancelled, say) gives back a connection the pool
    must not reuse: every later checkout is outside any transaction."""
    async with direct._driver(table) as driver:
        await driver.execute("BEGIN")
        await driver.execute("INSERT INTO direct_probe VALUES (93, 1, now(), NULL)")
    for _ in range(8):
        async with direct._driver(table) as driver:
            assert not driver.is_in_transaction()
    row = await direct.fetchrow(table, "SELECT count(*) FROM direct_probe WHERE id = 93")
    assert row is not None and row[0] == 0  # never committed
