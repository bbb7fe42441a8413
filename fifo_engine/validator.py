"""`fifo check`: the validator. Reports every inconsistency between fills, fifo_allocations and the
FIFO-derived trade_records fields; changes nothing (one REPEATABLE READ transaction, rolled back).

Checks: stored slices vs a fresh recomputation (missing / unexpected / differing, compared as text,
i.e. byte for byte); per sell fill Σ allocated = size and Σ proceeds / net proceeds exact; per buy
lot Σ allocated ≤ size (no negative remaining) and Σ basis exact when fully consumed; each row's
arithmetic and missing-basis shape; references to fills that do not exist, have the wrong side,
order, symbol, portfolio or price, or a buy not strictly before its sell; derived order fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger
from fifo_engine import sql
from fifo_engine.model import EngineConfig
from fifo_engine.parallel import worker_count
from fifo_engine.pg import driver_connection, session_dsn
from fifo_engine.recompute import recompute_into

log = get_logger(__name__)

MAX_DETAIL = 300


@dataclass(frozen=True, slots=True)
class Inconsistency:
    kind: str
    symbol: str | None
    reference: str  # sell/buy trade id (with slice index) or order id
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.symbol or '-'} {self.reference}: {self.detail}"


def _structural(scope: sql.Scope) -> list[str]:
    """Queries returning (kind, symbol, reference, detail) rows; one scan per table and side."""
    fa_scope = f"SELECT * FROM fifo_allocations fa WHERE {scope.allocations}"
    return [
        # Per sell fill: every unit allocated exactly once; proceeds add up exactly.
        f"""
        SELECT c.kind, f.symbol, f.trade_id, c.detail
        FROM fills f
        LEFT JOIN (SELECT sell_trade_id, sum(allocated_size) AS size, sum(proceeds_usd) AS proceeds,
                          sum(net_proceeds_usd) AS net
                   FROM fifo_allocations GROUP BY sell_trade_id) a ON a.sell_trade_id = f.trade_id
        CROSS JOIN LATERAL (VALUES
            ('sell_allocation_size', coalesce(a.size, 0) <> f.size,
             'sold ' || f.size || ', allocated ' || coalesce(a.size, 0)),
            ('sell_proceeds_sum', a.size = f.size AND (a.proceeds <> f.size * f.price
                                                       OR a.net <> f.size * f.price - f.commission),
             'Σ proceeds ' || a.proceeds || ' vs ' || f.size * f.price || ', Σ net ' || a.net || ' vs '
             || f.size * f.price - f.commission)) AS c(kind, failed, detail)
        WHERE f.side = 'SELL' AND {scope.fills} AND c.failed""",
        # Per buy lot: never more allocated than bought; basis adds up exactly once fully sold.
        f"""
        SELECT c.kind, f.symbol, f.trade_id, c.detail
        FROM fills f
        JOIN (SELECT buy_trade_id, sum(allocated_size) AS size, sum(cost_basis_usd) AS basis
              FROM fifo_allocations WHERE buy_trade_id IS NOT NULL GROUP BY buy_trade_id) a
             ON a.buy_trade_id = f.trade_id
        CROSS JOIN LATERAL (VALUES
            ('lot_overallocated', a.size > f.size, 'bought ' || f.size || ', allocated ' || a.size),
            ('lot_basis_sum', a.size = f.size AND a.basis <> f.size * f.price + f.commission,
             'Σ basis ' || a.basis || ' vs ' || f.size * f.price + f.commission)) AS c(kind, failed, detail)
        WHERE f.side = 'BUY' AND {scope.fills} AND c.failed""",
        # Per row: arithmetic, missing-basis shape, references to the fills.
        f"""
        SELECT c.kind, fa.symbol, fa.sell_trade_id || '#' || fa.slice_index, c.detail
        FROM ({fa_scope}) fa
        LEFT JOIN fills s ON s.trade_id = fa.sell_trade_id
        LEFT JOIN fills b ON b.trade_id = fa.buy_trade_id
        CROSS JOIN LATERAL (VALUES
            ('row_arithmetic',
             fa.pnl_usd <> fa.net_proceeds_usd - fa.cost_basis_usd OR fa.allocated_size <= 0
             OR (fa.missing_basis AND (fa.cost_basis_usd <> 0 OR fa.buy_trade_id IS NOT NULL
                                       OR fa.buy_order_id IS NOT NULL)),
             'pnl ' || fa.pnl_usd || ', net ' || fa.net_proceeds_usd || ', basis ' || fa.cost_basis_usd
             || ', missing_basis ' || fa.missing_basis),
            ('orphan_sell_reference', s.trade_id IS NULL OR s.side <> 'SELL',
             CASE WHEN s.trade_id IS NULL THEN 'no such fill' ELSE 'fill is a ' || s.side END),
            ('orphan_buy_reference', fa.buy_trade_id IS NOT NULL AND (b.trade_id IS NULL OR b.side <> 'BUY'),
             'buy ' || fa.buy_trade_id || ': '
             || CASE WHEN b.trade_id IS NULL THEN 'no such fill' ELSE 'fill is a ' || b.side END),
            ('reference_mismatch',
             s.trade_id IS NOT NULL AND (fa.sell_order_id <> s.order_id OR fa.symbol <> s.symbol
                 OR fa.portfolio_id <> s.portfolio_id OR fa.sell_price <> s.price OR fa.sell_time <> s.trade_time
                 OR (b.trade_id IS NOT NULL AND (fa.buy_order_id <> b.order_id OR b.symbol <> s.symbol
                     OR b.portfolio_id <> s.portfolio_id OR fa.buy_price <> b.price
                     OR fa.buy_time IS DISTINCT FROM b.trade_time))),
             'row disagrees with its fills'),
            ('buy_not_before_sell',
             s.trade_id IS NOT NULL AND b.trade_id IS NOT NULL
             AND (b.trade_time, coalesce(b.sequence_timestamp, '-infinity'), b.trade_id COLLATE "C")
                 >= (s.trade_time, coalesce(s.sequence_timestamp, '-infinity'), s.trade_id COLLATE "C"),
             'buy ' || b.trade_id || ' is not earlier')) AS c(kind, failed, detail)
        WHERE c.failed""",
        f"""
        SELECT 'order_fields_differ', t.symbol, t.order_id, 'sell order: stored pnl '
               || coalesce(t.pnl_usd::text, 'NULL') || ', expected ' || coalesce(e.pnl::text, 'NULL')
               || '; parents ' || coalesce(t.parent_ids::text, 'NULL') || ' vs ' || coalesce(e.parent_ids::text, 'NULL')
        FROM ({sql.expected_sell_fields(scope)}) e JOIN trade_records t ON t.order_id = e.order_id
        WHERE {sql.sell_field_diff()}""",
        f"""
        SELECT 'order_fields_differ', t.symbol, t.order_id, 'buy order: stored remaining_size '
               || coalesce(t.remaining_size::text, 'NULL') || ', expected ' || coalesce(e.remaining::text, 'NULL')
        FROM ({sql.expected_buy_fields(scope)}) e JOIN trade_records t ON t.order_id = e.order_id
        WHERE {sql.buy_field_diff()}""",
    ]


async def check(sessions: async_sessionmaker[AsyncSession], settings: Any, symbol: str | None = None,
                progress: bool = False) -> list[Inconsistency]:
    """Every inconsistency of the FIFO tables (of one symbol, or all). Read-only."""
    config = EngineConfig.from_settings(settings)
    scope = sql.Scope.everything() if symbol is None else sql.Scope.symbol(symbol)
    found: list[Inconsistency] = []
    async with sessions() as session:
        # One snapshot for every query, so a concurrent fill cannot look like an inconsistency.
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        try:
            driver = await driver_connection(session)
            await driver.execute(sql.CREATE_NEW_TABLE)
            await recompute_into(driver, config, scope, sql.NEW_TABLE, progress, dsn=session_dsn(session),
                                 workers=worker_count(settings))
            await driver.execute(sql.INDEX_NEW_TABLE)
            await driver.execute(f"ANALYZE {sql.NEW_TABLE}")
            for row in await driver.fetch(sql.diff_rows(scope), *scope.params):
                detail = f"expected {row['expected'] or '(none)'}; stored {row['stored'] or '(none)'}"
                found.append(Inconsistency(row["kind"], row["symbol"], f"{row['sell_trade_id']}#{row['slice_index']}",
                                           detail[:MAX_DETAIL]))
            for query in _structural(scope):
                for kind, symbol_, reference, detail in await driver.fetch(query, *scope.params):
                    found.append(Inconsistency(kind, symbol_, reference, str(detail)[:MAX_DETAIL]))
        finally:
            await session.rollback()
    log.info("fifo_checked", symbol=symbol, inconsistencies=len(found))
    return found
