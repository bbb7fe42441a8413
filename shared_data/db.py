"""Engine and session factory. Nothing is created at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

APP_DATABASE = "bottrader"


def to_async_url(url: str) -> str:
    """`postgresql://…` → `postgresql+asyncpg://…` for SQLAlchemy."""
    u = make_url(url)
    return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def to_plain_url(url: str) -> str:
    """The libpq/asyncpg form (`postgresql://…`), whatever driver the URL names."""
    u = make_url(url)
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def create_engine(url: str, pool_size: int = 10, statement_timeout_ms: int = 30_000,
                  connect_timeout_s: float = 10.0, pre_ping: bool = True) -> AsyncEngine:
    """`pre_ping=False` skips the liveness round trip on every checkout (only where nothing drops connections)."""
    connect_args: dict[str, Any] = {"timeout": connect_timeout_s}
    if statement_timeout_ms:
        connect_args["server_settings"] = {"statement_timeout": str(statement_timeout_ms)}
    return create_async_engine(
        to_async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping,
        connect_args=connect_args,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session and one transaction: commit on success, roll back on error."""
    async with sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def read_session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for reads only, without the BEGIN and ROLLBACK round trips of a transaction.

    Under READ COMMITTED (the isolation every session here uses) each statement of a transaction
    takes its own snapshot anyway, and plain reads take no locks to hold: running them in autocommit
    returns the same rows. Not for writes or `FOR UPDATE`: those need the transaction.
    """
    async with _autocommit(sessions) as session:
        yield session


@asynccontextmanager
async def single_statement(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work that is exactly one write statement: it commits when the statement completes, without
    the BEGIN and COMMIT round trips (one statement is atomic by itself). Never two writes in it."""
    async with _autocommit(sessions) as session:
        yield session


@asynccontextmanager
async def _autocommit(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


async def _admin_connect(url: str, timeout: float = 10.0) -> asyncpg.Connection:
    return await asyncpg.connect(to_plain_url(url), timeout=timeout)


async def create_database(server_url: str, name: str, drop_first: bool = False) -> str:
    """Create database `name` on the server of `server_url` if missing; return its URL."""
    conn = await _admin_connect(with_database(server_url, "postgres"))
    try:
        if drop_first:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    conn = await _admin_connect(with_database(server_url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def ping(url: str, timeout: float = 5.0) -> str:
    conn = await _admin_connect(url, timeout=timeout)
    try:
        return str(await conn.fetchval("SELECT version()"))
    finally:
        await conn.close()
