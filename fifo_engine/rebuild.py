"""`fifo rebuild`: recompute every allocation from the stored fills and make the tables match.

The recomputation streams the fills in the total order through a history-less FifoBook (the same
arithmetic as the real-time path) and COPYs the slices in text format; over many fills of every
symbol the matching runs in worker processes, one group of symbols each (parallel.py,
FIFO_WORKERS). When the scope has no stored rows they go straight into fifo_allocations; otherwise
into a temp table, and only rows that are not byte-identical (compared as text) are deleted and
re-inserted — a rebuild of consistent data writes nothing. The FIFO-derived trade_records fields
are accumulated on the way (order_fields.py: the same values as the real-time path's SQL, tested
byte for byte) and written, by key and only where they differ in value or in scale, while the
slices are still being copied.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger
from fifo_engine import order_fields, sql
from fifo_engine.model import EngineConfig
from fifo_engine.parallel import worker_count
from fifo_engine.pg import driver_connection, lock_fifo, session_dsn
from fifo_engine.recompute import recompute_into
from fifo_engine.validator import Inconsistency, check

__all__ = ["Inconsistency", "RebuildStats", "check", "rebuild"]

log = get_logger(__name__)

# From this many fills, a full rebuild into an empty table rebuilds the indexes after the load.
BULK_FILLS = 200_000
# After this many changed rows, the rebuild refreshes the planner statistics of what it wrote.
ANALYZE_AFTER = 10_000

@dataclass(frozen=True, slots=True)
class RebuildStats:
    symbol: str | None
    fills: int
    allocations: int
    missing_basis: int
    inserted: int
    deleted: int
    unchanged: int
    sell_orders_updated: int
    buy_orders_updated: int
    seconds: float
    # Wall seconds per step; "order_fields_streamed" is the part of "recompute_and_copy" spent
    # writing order fields, "order_fields" what was left after it.
    phases: dict[str, float] = field(default_factory=dict)
    workers: int = 1  # processes that did the matching


async def drop_secondary_indexes(driver: asyncpg.Connection) -> list[str]:
    """Drop fifo_allocations' indexes except the primary key; return the statements that recreate them.

    Building an index once after a bulk load is several times cheaper than maintaining it row by
    row. Only for a full rebuild into an empty table; the DDL holds an ACCESS EXCLUSIVE lock on
    fifo_allocations until the rebuild commits (readers wait), and a failure rolls it all back."""
    rows = await driver.fetch("""
        SELECT i.relname AS index_name, pg_get_indexdef(i.oid) AS index_def, c.conname,
               pg_get_constraintdef(c.oid) AS constraint_def
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
             LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid
        WHERE x.indrelid = 'fifo_allocations'::regclass AND NOT x.indisprimary ORDER BY i.relname""")
    restore = []
    for r in rows:
        if r["conname"] is not None:
            await driver.execute(f'ALTER TABLE fifo_allocations DROP CONSTRAINT "{r["conname"]}"')
            restore.append(f'ALTER TABLE fifo_allocations ADD CONSTRAINT "{r["conname"]}" {r["constraint_def"]}')
        else:
            await driver.execute(f'DROP INDEX "{r["index_name"]}"')
            restore.append(r["index_def"])
    return restore


def _scope(symbol: str | None) -> sql.Scope:
    return sql.Scope.everything() if symbol is None else sql.Scope.symbol(symbol)


async def rebuild(sessions: async_sessionmaker[AsyncSession], settings: Any, symbol: str | None = None,
                  progress: bool = True) -> RebuildStats:
    """Recompute the allocations (of one symbol, or all) and the derived trade_records fields from
    the fills, in one transaction under the FIFO lock. Idempotent."""
    started = time.monotonic()
    config = EngineConfig.from_settings(settings)
    scope = _scope(symbol)
    phases: dict[str, float] = {}
    mark = started

    def phase(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        phases[name] = round(now - mark, 3)
        mark = now

    async with sessions() as session, session.begin():
        driver = await driver_connection(session)
        await lock_fifo(driver)
        stored = await driver.fetchval(
            f"SELECT count(*) FROM fifo_allocations fa WHERE {scope.allocations}", *scope.params)
        dsn, workers = session_dsn(session), worker_count(settings)
        fields = order_fields.FieldWriter(driver, scope)
        if stored == 0:
            bulk = symbol is None and await driver.fetchval("SELECT count(*) FROM fills") >= BULK_FILLS
            restore = await drop_secondary_indexes(driver) if bulk else []
            phase("prepare")
            counts = await recompute_into(driver, config, scope, "fifo_allocations", progress, fields, dsn, workers)
            phase("recompute_and_copy")
            if restore:  # sorts of ~1M keys: in memory, not in temp files
                await driver.execute("SET LOCAL maintenance_work_mem = '512MB'")
            for statement in restore:
                await driver.execute(statement)
            phase("recreate_indexes")
            inserted, deleted = counts.allocations, 0
        else:
            await driver.execute(sql.CREATE_NEW_TABLE)
            phase("prepare")
            counts = await recompute_into(driver, config, scope, sql.NEW_TABLE, progress, fields, dsn, workers)
            phase("recompute_and_copy")
            await driver.execute(sql.INDEX_NEW_TABLE)
            await driver.execute(f"ANALYZE {sql.NEW_TABLE}")
            deleted = await driver.fetchval(sql.delete_stale(scope), *scope.params)
            inserted = await driver.fetchval(sql.INSERT_MISSING)
            phase("compare_and_replace")
        sells, buys = await fields.finish()
        phase("order_fields")
        phases["order_fields_streamed"] = round(fields.seconds, 3)
        if inserted + deleted + sells + buys >= ANALYZE_AFTER:
            # Fresh statistics for the next rebuild's and the reports' plans (autovacuum may be off
            # or slow); of trade_records, only the columns written here changed.
            await driver.execute(f"ANALYZE fifo_allocations, trade_records ({', '.join(sql.DERIVED_FIELDS)})")
            phase("analyze")
    phase("commit")
    stats = RebuildStats(
        symbol=symbol, fills=counts.fills, allocations=counts.allocations, missing_basis=counts.missing_basis,
        inserted=inserted, deleted=deleted, unchanged=counts.allocations - inserted, sell_orders_updated=sells,
        buy_orders_updated=buys, seconds=round(time.monotonic() - started, 3), phases=phases,
        workers=counts.workers,
    )
    log.info("fifo_rebuilt", **{k: getattr(stats, k) for k in stats.__slots__})
    return stats


