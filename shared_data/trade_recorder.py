"""The fill recorder: every exchange fill is stored once (`fills.trade_id` is the key).

Runs inside the caller's transaction (an AsyncSession in a transaction) and never commits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from core.enums import IngestVia, Side
from fifo_engine.model import FillFact
from fifo_engine.pg import driver_connection, fetch_first

FILL_COLUMNS = ("trade_id", "order_id", "symbol", "side", "price", "size", "commission", "liquidity_indicator",
                "trade_time", "sequence_timestamp", "portfolio_id", "ingest_via")

# Numerics travel as text (exact digits and scale; asyncpg's binary NUMERIC encoder is slow).
_INSERT_FILLS = """
INSERT INTO fills (trade_id, order_id, symbol, side, price, size, commission, liquidity_indicator, trade_time,
                   sequence_timestamp, portfolio_id, ingest_via)
SELECT u.trade_id, u.order_id, u.symbol, u.side, u.price::numeric, u.size::numeric, u.commission::numeric,
       u.liquidity_indicator, u.trade_time, u.sequence_timestamp, u.portfolio_id, $12
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::timestamptz[], $10::timestamptz[], $11::text[])
     AS u(trade_id, order_id, symbol, side, price, size, commission, liquidity_indicator, trade_time,
          sequence_timestamp, portfolio_id)
ON CONFLICT (trade_id) DO NOTHING
RETURNING trade_id
"""

_SELECT_FILLS = """
SELECT trade_id, order_id, symbol, side, price, size, commission, trade_time, sequence_timestamp, portfolio_id,
       liquidity_indicator
FROM fills {where}
ORDER BY trade_time, sequence_timestamp NULLS FIRST, trade_id COLLATE "C"
"""


def _check(fill: FillFact) -> None:
    if fill.side not in (Side.BUY, Side.SELL):
        raise ValueError(f"fill {fill.trade_id}: unknown side {fill.side!r}")
    if fill.trade_time.tzinfo is None:
        raise ValueError(f"fill {fill.trade_id}: trade_time must be timezone-aware")


async def insert_fills(session: AsyncSession, fills: Sequence[FillFact], ingest_via: IngestVia) -> list[FillFact]:
    """Insert fills, skipping any trade_id already stored (ON CONFLICT DO NOTHING); returns the fills
    that were new, in the given order (a trade_id repeated in `fills` counts once)."""
    if not fills:
        return []
    args = fills_arguments(fills, ingest_via)
    await session.flush()  # the caller's pending ORM rows go first (same transaction)
    _, rows = await fetch_first(session, _INSERT_FILLS, *args)
    return new_fills(fills, rows)


FILLS_PARAMS = 12  # insert_fills_sql's parameters (fills_arguments' length)


def insert_fills_sql(first: int = 1) -> str:
    """insert_fills' statement with its parameters numbered from `first` (to be the main statement of
    another's data-modifying WITH); it returns the trade_id of each fill it inserted."""
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + first - 1}", _INSERT_FILLS)


def fills_arguments(fills: Sequence[FillFact], ingest_via: IngestVia) -> list[Any]:
    """The arguments of insert_fills_sql() for `fills` (checked first: a bad fill raises, nothing is sent)."""
    for fill in fills:
        _check(fill)
    columns: list[list[Any]] = [[] for _ in range(11)]
    for f in fills:
        for i, value in enumerate((
            f.trade_id, f.order_id, f.symbol, Side(f.side).value, str(f.price), str(f.size), str(f.commission),
            f.liquidity_indicator, f.trade_time, f.sequence_timestamp, f.portfolio_id,
        )):
            columns[i].append(value)
    return [*columns, IngestVia(ingest_via).value]


def new_fills(fills: Sequence[FillFact], rows: Sequence[Any]) -> list[FillFact]:
    """The fills whose trade_id is in `rows` (the statement's RETURNING), in the given order, each once."""
    inserted = {r[0] for r in rows}
    out: list[FillFact] = []
    for fill in fills:
        if fill.trade_id in inserted:
            inserted.discard(fill.trade_id)
            out.append(fill)
    return out


def fill_from_record(record: asyncpg.Record) -> FillFact:
    """A FillFact from a row of `select_fills_sql()`."""
    return FillFact(
        trade_id=record[0], order_id=record[1], symbol=record[2], side=Side(record[3]), price=record[4],
        size=record[5], commission=record[6], trade_time=record[7], sequence_timestamp=record[8],
        portfolio_id=record[9], liquidity_indicator=record[10],
    )


def select_fills_sql(where: str = "") -> str:
    """Fills in the FIFO total order (trade_time, sequence_timestamp, trade_id by code point)."""
    return _SELECT_FILLS.format(where=f"WHERE {where}" if where else "")


async def load_fills(session: AsyncSession, symbol: str | None = None) -> list[FillFact]:
    """Every stored fill (of one symbol, or all) in the FIFO total order."""
    driver = await driver_connection(session)
    if symbol is None:
        records = await driver.fetch(select_fills_sql())
    else:
        records = await driver.fetch(select_fills_sql("symbol = $1"), symbol)
    return [fill_from_record(r) for r in records]
