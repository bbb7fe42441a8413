"""Shared fixtures: a real PostgreSQL, and a fresh migrated database per test module.

DATABASE_URL selects a server (tests create and drop their own databases on it); unset, one
embedded server (pgserver) is started for the whole run in a temporary folder.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.settings import load_settings
from shared_data import migrate
from shared_data.db import create_database, create_engine, drop_database, session_factory

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


async def make_test_database(server_url: str, *, migrated: bool = True) -> tuple[str, str]:
    name = f"bt_test_{uuid.uuid4().hex[:12]}"
    url = await create_database(server_url, name)
    if migrated:
        await migrate.upgrade(url)
    return name, url


@pytest.fixture(scope="module")
async def db_url(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh database for this test module, migrated to head with Alembic."""
    name, url = await make_test_database(pg_server_url)
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
