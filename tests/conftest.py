"""Shared fixtures: a real PostgreSQL, and a fresh migrated database per test module.

DATABASE_URL selects a server (tests create and drop their own databases on it); unset, one
embedded server (pgserver) is started for the whole run in a temporary folder. Alembic runs once per
run, into a template database; each module's database is a copy of it (CREATE DATABASE … TEMPLATE),
which is several times faster than migrating every time.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.settings import load_settings
from shared_data import migrate
from shared_data.db import (
    create_database,
    create_engine,
    drop_database,
    session_factory,
    to_plain_url,
    with_database,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server the tests may create databases on."""
    settings = load_settings()
    if settings.database_url is not None:
        yield settings.database_url.get_secret_value()
        return
    from shared_data.embedded import EmbeddedPostgres

    # Its own temp folder, not pytest's basetemp: pytest prunes old basetemps, and a concurrent run
    # could remove a live server's data directory.
    pgdata = Path(tempfile.mkdtemp(prefix="bt-test-pg-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = EmbeddedPostgres(pgdata)
        url = server.start()
    try:
        yield url
    finally:
        server.stop()
        shutil.rmtree(pgdata, ignore_errors=True)


async def make_test_database(server_url: str, *, migrated: bool = True,
                             template: str | None = None) -> tuple[str, str]:
    """A new database; `template` (a migrated database nobody is connected to) is copied instead of migrating."""
    name = f"bt_test_{uuid.uuid4().hex[:12]}"
    if template is not None:
        conn = await asyncpg.connect(to_plain_url(with_database(server_url, "postgres")), timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await conn.close()
        url = with_database(server_url, name)
    else:
        url = await create_database(server_url, name)
        if migrated:
            await migrate.upgrade(url)
    return name, url


@pytest.fixture(scope="session")
def migrated_template(pg_server_url: str) -> Iterator[str]:
    """A database migrated to head once per run, the template of every module's database. Its own
    unique name: concurrent runs on the same server each have theirs."""
    name, _ = asyncio.run(make_test_database(pg_server_url))
    try:
        yield name
    finally:
        asyncio.run(drop_database(pg_server_url, name))


@pytest.fixture(scope="module")
async def db_url(pg_server_url: str, migrated_template: str) -> AsyncIterator[str]:
    """A fresh database for this test module, at Alembic's head (a copy of the migrated template)."""
    name, url = await make_test_database(pg_server_url, template=migrated_template)
    try:
        yield url
    finally:
        await drop_database(pg_server_url, name)


@pytest.fixture(scope="module")
async def db_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url, pool_size=5)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def db_sessions(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(db_engine)
