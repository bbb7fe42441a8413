"""Hot single statements sent straight to asyncpg on a pooled connection, past SQLAlchemy's
statement building and ORM session.

Measured on this project's 2-core machines (bench/statement_paths.py): one UPDATE through an
ORM session in autocommit costs ~340 µs of CPU; the same statement on the same pool's connection
through the driver ~100 µs. The order, working-order, alert and trailing-stop paths send a few
dozen such statements per trade, so on those paths this is most of what a statement costs us.

`fetch`/`execute`/…: a statement that stands alone and commits by itself (what `single_statement` and
`read_session` are for). `transaction`: several on one connection, all or nothing. `execute_in_session`
and `session_driver`: a statement that belongs to a session's own unit of work. The connection comes
from the same engine pool as every session (same statement timeout, same limits), and the statement
is written in PostgreSQL's own `$n` form. Values go as asyncpg encodes them: Decimal → NUMERIC
exactly, aware datetime → timestamptz. JSON/JSONB go in as text (`json.dumps`, `$n::jsonb`; mind
that json.dumps(None) is JSON null, not SQL NULL) and come back parsed: the codecs are the ones SQLAlchemy's
dialect installs on each connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.util import greenlet_spawn


def _engine(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    engine = sessions.kw.get("bind")
    if not isinstance(engine, AsyncEngine):
        raise TypeError("direct statements need a session factory bound to an AsyncEngine")
    return engine


@asynccontextmanager
async def _driver(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection's driver, checked out of the engine's pool without a SQLAlchemy Connection
    around it (no execution options, no isolation characteristics to set and reset: about half the CPU
    of `engine.connect()`). asyncpg runs a statement outside a transaction in autocommit, and the pool's
    reset-on-return rolls back nothing SQLAlchemy did not begin — so a connection still in a transaction
    when the block ends (its ROLLBACK cancelled or failed) or closed is dropped, never handed out again."""
    proxied = await _engine(sessions).raw_connection()
    driver: asyncpg.Connection = proxied.driver_connection
    try:
        yield driver
    finally:
        # The pool's check-in may await the driver: through greenlet_spawn.
        if driver.is_closed() or driver.is_in_transaction():
            await greenlet_spawn(proxied.invalidate)
        else:
            await greenlet_spawn(proxied.close)


async def fetch(sessions: async_sessionmaker[AsyncSession], sql: str, *args: Any) -> list[asyncpg.Record]:
    """Run one statement by itself (it commits when it completes) and return its rows."""
    async with _driver(sessions) as driver:
        return list(await driver.fetch(sql, *args))


async def fetchrow(sessions: async_sessionmaker[AsyncSession], sql: str, *args: Any) -> asyncpg.Record | None:
    rows = await fetch(sessions, sql, *args)
    return rows[0] if rows else None


async def execute(sessions: async_sessionmaker[AsyncSession], sql: str, *args: Any) -> str:
    """Run one statement by itself; returns the server's status tag (e.g. 'UPDATE 1')."""
    async with _driver(sessions) as driver:
        return str(await driver.execute(sql, *args))


async def executemany(sessions: async_sessionmaker[AsyncSession], sql: str, rows: list[tuple[Any, ...]]) -> None:
    """One statement for many argument rows in one round trip per batch; atomic as a whole
    (asyncpg wraps it in a transaction of its own)."""
    if not rows:
        return
    async with _driver(sessions) as driver:
        await driver.executemany(sql, rows)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[asyncpg.Connection]:
    """One transaction straight on the driver of a pooled connection: committed when the block ends,
    rolled back on any exception (cancellation and timeouts included)."""
    async with _driver(sessions) as driver, driver.transaction():
        yield driver


@asynccontextmanager
async def locked_transaction(sessions: async_sessionmaker[AsyncSession],
                             lock_key: int) -> AsyncIterator[asyncpg.Connection]:
    """`transaction` whose first statement is `SELECT pg_advisory_xact_lock(lock_key)`, sent with the BEGIN
    in one message (simple protocol): one round trip for both. The lock is still a statement of its own,
    complete before the block's first statement starts, so under READ COMMITTED every statement of the
    block takes its snapshot after the lock was granted, as when the two were sent one by one."""
    async with _driver(sessions) as driver:
        try:
            await driver.execute(f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({int(lock_key)})")
            yield driver
            if await driver.execute("COMMIT") != "COMMIT":  # the block caught an error: the server rolled back
                raise TransactionRolledBack("the transaction failed inside its block and was rolled back")
        except BaseException:
            # SQLAlchemy does not know of this BEGIN. ROLLBACK outside a transaction is only a warning; one that
            # fails (cancelled again, connection lost) leaves the connection in it, and _driver drops it.
            with suppress(Exception):
                await driver.execute("ROLLBACK")
            raise


class TransactionRolledBack(RuntimeError):
    """COMMIT answered ROLLBACK: a statement of the block failed and the block went on."""


async def session_driver(session: AsyncSession) -> asyncpg.Connection | None:
    """The session's asyncpg connection when a statement sent on it directly lands where the session's own
    would: in autocommit, or in a transaction already begun. None while SQLAlchemy's BEGIN is still pending."""
    raw = await (await session.connection()).get_raw_connection()
    driver: asyncpg.Connection | None = raw.driver_connection
    if driver is None:
        return None
    if driver.is_in_transaction() or getattr(raw.dbapi_connection, "isolation_level", None) == "autocommit":
        return driver
    return None


async def execute_in_session(session: AsyncSession, sql: str, *args: Any) -> None:
    """One `$n` statement as part of the session's unit of work: through its driver when that lands in the
    same place (session_driver), else through SQLAlchemy's driver-level execute, which sends BEGIN first."""
    driver = await session_driver(session)
    if driver is not None:
        await driver.execute(sql, *args)
    else:
        await (await session.connection()).exec_driver_sql(sql, args)
