"""Migration 0002 creates the reporting views and its downgrade removes exactly them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared_data import migrate
from shared_data.db import drop_database, to_plain_url
from tests.conftest import make_test_database

VIEWS = {"tax_lots_8949", "tax_8949_totals", "realized_pnl_daily", "realized_trades", "exits_by_reason",
         "open_lots", "open_positions"}


@pytest.fixture(scope="module")
async def empty_db(pg_server_url: str) -> AsyncIterator[str]:
    name, url = await make_test_database(pg_server_url, migrated=False)
    try:
        yield url
    finally:
        await drop_database(pg_server_url, name)


async def _views_and_function(url: str) -> tuple[set[str], bool]:
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        views = {r["viewname"] for r in await conn.fetch("SELECT viewname FROM pg_views WHERE schemaname = 'public'")}
        fn = await conn.fetchval("SELECT count(*) FROM pg_proc WHERE proname = 'bottrader_tax_tz'")
        return views, fn == 1
    finally:
        await conn.close()


async def test_upgrade_creates_and_downgrade_drops_the_views(empty_db: str) -> None:
    await migrate.upgrade(empty_db, "0002")
    assert await _views_and_function(empty_db) == (VIEWS, True)
    await migrate.downgrade(empty_db, "0001")
    assert await _views_and_function(empty_db) == (set(), False)
    assert await migrate.current_revision(empty_db) == "0001"
    await migrate.upgrade(empty_db, "0002")
    assert await _views_and_function(empty_db) == (VIEWS, True)


async def test_views_answer_on_an_empty_database(empty_db: str) -> None:
    conn = await asyncpg.connect(to_plain_url(empty_db))
    try:
        for view in sorted(VIEWS):
            assert await conn.fetch(f"SELECT * FROM {view}") == [], view
        assert await conn.fetchval("SELECT bottrader_tax_tz()") == "America/New_York"
    finally:
        await conn.close()
