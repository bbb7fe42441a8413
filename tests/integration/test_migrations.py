"""The Alembic migrations themselves, on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from shared_data import migrate
from shared_data.db import drop_database, to_plain_url
from tests.conftest import make_test_database

EXPECTED_TABLES = {
    "trade_records", "fills", "fifo_allocations", "passive_orders", "shared_data",
    "trailing_stop_state", "alerts", "risk_state", "risk_events",
}


@pytest.fixture(scope="module")
async def empty_db(pg_server_url: str) -> AsyncIterator[str]:
    name, url = await make_test_database(pg_server_url, migrated=False)
    try:
        yield url
    finally:
        await drop_database(pg_server_url, name)


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows} - {"alembic_version"}
    finally:
        await conn.close()


async def test_empty_database_is_not_at_head(empty_db: str) -> None:
    with pytest.raises(migrate.SchemaNotAtHead, match="python main.py migrate"):
        await migrate.ensure_at_head(empty_db)


async def test_up_down_up_round_trip(empty_db: str) -> None:
    await migrate.upgrade(empty_db)
    assert await _tables(empty_db) >= EXPECTED_TABLES
    await migrate.ensure_at_head(empty_db)
    await migrate.downgrade(empty_db, "base")
    assert await _tables(empty_db) == set()
    assert await migrate.current_revision(empty_db) is None
    await migrate.upgrade(empty_db)
    assert await _tables(empty_db) >= EXPECTED_TABLES
    assert await migrate.current_revision(empty_db) == migrate.head_revision()


async def test_money_columns_are_numeric(db_url: str) -> None:
    conn = await asyncpg.connect(to_plain_url(db_url))
    try:
        rows = await conn.fetch(
            """SELECT table_name, column_name, data_type FROM information_schema.columns
               WHERE table_schema='public'
                 AND (column_name ~ '(price|size|fee|commission|pnl|cost|proceeds|usd|profit)')"""
        )
    finally:
        await conn.close()
    money = [(r["table_name"], r["column_name"]) for r in rows if r["column_name"] != "holding_term"]
    assert ("fills", "price") in money and ("fifo_allocations", "pnl_usd") in money
    not_numeric = [(r["table_name"], r["column_name"], r["data_type"]) for r in rows if r["data_type"] != "numeric"]
    assert not_numeric == []


async def _expect_unique_violation(url: str, sql: str, *args: object) -> None:
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        await conn.execute(sql, *args)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(sql, *args)
    finally:
        await conn.close()


async def test_fills_trade_id_is_unique(db_url: str) -> None:
    await _expect_unique_violation(
        db_url,
        """INSERT INTO fills (trade_id, order_id, symbol, side, price, size, commission, trade_time, ingest_via)
           VALUES ($1, 'o-1', 'BTC-USD', 'BUY', $2, $3, $4, $5, 'rest')""",
        "t-1", Decimal("50000.01"), Decimal("0.001"), Decimal("0.3"), datetime(2026, 1, 1, tzinfo=UTC),
    )


async def test_trade_records_client_order_id_is_unique(db_url: str) -> None:
    conn = await asyncpg.connect(to_plain_url(db_url))
    try:
        sql = """INSERT INTO trade_records (order_id, client_order_id, symbol, side, order_type, status, source,
                 ingest_via) VALUES ($1, 'coid-1', 'BTC-USD', 'BUY', 'MARKET', 'NEW', 'webhook', 'rest')"""
        await conn.execute(sql, "order-a")
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(sql, "order-b")
    finally:
        await conn.close()


async def test_alerts_dedup_key_is_unique(db_url: str) -> None:
    await _expect_unique_violation(
        db_url, "INSERT INTO alerts (dedup_key, source, status) VALUES ($1, 'tradingview', 'accepted')", "k-1"
    )


async def test_fifo_allocation_slice_is_unique(db_url: str) -> None:
    await _expect_unique_violation(
        db_url,
        """INSERT INTO fifo_allocations (symbol, sell_order_id, buy_order_id, sell_trade_id, buy_trade_id,
             slice_index, allocated_size, buy_price, sell_price, buy_fees_per_unit, sell_fees_per_unit,
             cost_basis_usd, proceeds_usd, net_proceeds_usd, pnl_usd, buy_time, sell_time, holding_term)
           VALUES ('BTC-USD', 's', 'b', 'st', 'bt', 0, 1, 1, 2, 0, 0, 1, 2, 2, 1, now(), now(), 'short')""",
    )


async def test_exit_reason_is_a_closed_set(db_url: str) -> None:
    conn = await asyncpg.connect(to_plain_url(db_url))
    try:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                """INSERT INTO trade_records (order_id, symbol, side, order_type, status, source, ingest_via,
                   exit_reason) VALUES ('x', 'BTC-USD', 'SELL', 'MARKET', 'NEW', 'webhook', 'rest', 'because')"""
            )
    finally:
        await conn.close()


async def test_ids_compare_bytewise_and_order_pages_leave_room_for_hot_updates(db_url: str) -> None:
    conn = await asyncpg.connect(to_plain_url(db_url))
    try:
        options = await conn.fetchval("SELECT reloptions FROM pg_class WHERE oid = 'trade_records'::regclass")
        collations = await conn.fetch(
            "SELECT table_name || '.' || column_name AS col, collation_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name IN ('trade_id', 'order_id', 'sell_trade_id', "
            "'buy_trade_id', 'sell_order_id', 'buy_order_id', 'client_order_id') "
            "AND table_name IN ('fills', 'trade_records', 'fifo_allocations', 'passive_orders')")
    finally:
        await conn.close()
    assert options == ["fillfactor=50"]
    assert len(collations) == 10 and {r["collation_name"] for r in collations} == {"C"}, collations


async def test_paper_reset_knows_every_table(db_url: str) -> None:
    """`paper reset` empties the trading tables; a table added by a later migration must be sorted into
    them or into what a reset deliberately keeps — never silently left holding the old account's rows."""
    from webhook.durability_cli import TRADING_TABLES

    kept = {"shared_data", "product_rules", "leadership_state", "leadership_events"}
    tables = await _tables(db_url)
    assert tables == set(TRADING_TABLES) | kept, (tables - set(TRADING_TABLES) - kept, set(TRADING_TABLES) - tables)
