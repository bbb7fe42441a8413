"""FIFO-derived trade_records fields computed in Python during a rebuild.

The real-time path and the validator compute these fields in SQL (sql.py); a rebuild over millions
of fills computes them while it streams the slices (one pass, no big aggregate queries) and writes
them with one UPDATE from a temp table. Both give the same values: sums are exact (Postgres `sum`
over NUMERIC is exact and keeps the largest scale, as exact Decimal addition does), and a sell
order's parents appear in the order their first lots were consumed, which is the FIFO (buy fill)
order the SQL sorts by. The integration tests compare both paths byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Context, Decimal, localcontext
from typing import Any

import asyncpg

from fifo_engine import sql
from fifo_engine.pg import NULL, copy_text, encode_rows, escape_copy, needs_escape

_EXACT = Context(prec=200)  # sums of ≤ 40-digit values stay exact
_ARRAY_UNSAFE = re.compile(r'[\\",{}\s]|^NULL$', re.IGNORECASE)
TABLE = "fifo_order_fields"
COLUMNS = ("order_id", "side", "pnl", "basis", "proceeds", "net", "parent_id", "parent_ids", "remaining")
_NULLS = "\t".join(["\\N"] * 6)  # pnl … parent_ids of a buy row


class OrderFields:
    """Per-order accumulators: sell orders (Σ pnl, basis, proceeds, net; parents in FIFO order) and
    buy orders (Σ fill sizes − Σ allocated from their lots)."""

    def __init__(self) -> None:
        self.sells: dict[str, list[Any]] = {}
        self.buys: dict[str, Decimal] = {}

    def add_fills(self, fills: Iterable[Sequence[Any]]) -> None:
        """Fill rows (trade_id, order_id, symbol, side, price, size, …; size a Decimal or its text),
        before their slices."""
        buys = self.buys
        with localcontext(_EXACT):
            for f in fills:
                if f[3] == "BUY":
                    size = Decimal(f[5])
                    held = buys.get(f[1])
                    buys[f[1]] = size if held is None else held + size

    def add_slices(self, rows: Iterable[Sequence[Any]]) -> None:
        """Slice rows in ALLOCATION_COLUMNS order."""
        sells, buys = self.sells, self.buys
        with localcontext(_EXACT):
            for r in rows:
                acc = sells.get(r[2])
                if acc is None:
                    acc = sells[r[2]] = [r[15], r[12], r[13], r[14], []]
                else:
                    acc[0] += r[15]
                    acc[1] += r[12]
                    acc[2] += r[13]
                    acc[3] += r[14]
                buy_order = r[3]
                if buy_order is not None:
                    if buy_order not in acc[4]:
                        acc[4].append(buy_order)
                    buys[buy_order] -= r[7]

    def encode(self) -> bytes:
        """The rows of the temp table (COLUMNS) as text COPY data."""
        if needs_escape("".join(self.sells), "".join(self.buys)):
            return encode_rows(self._rows())
        out = []
        for order_id, (pnl, basis, proceeds, net, parents) in self.sells.items():
            literal = _array(parents)
            if literal is None:
                first = literal = NULL
            else:
                first = parents[0]
                if "\\" in literal:
                    literal = escape_copy(literal)
            out.append("\t".join((order_id, "SELL", str(pnl), str(basis), str(proceeds), str(net), first, literal,
                                  NULL)))
        for order_id, remaining in self.buys.items():
            out.append(f"{order_id}\tBUY\t{_NULLS}\t{remaining}")
        out.append("")
        return "\n".join(out).encode()

    def _rows(self) -> Iterable[tuple[Any, ...]]:
        for order_id, (pnl, basis, proceeds, net, parents) in self.sells.items():
            yield order_id, "SELL", pnl, basis, proceeds, net, parents[0] if parents else None, _array(parents), None
        for order_id, remaining in self.buys.items():
            yield order_id, "BUY", None, None, None, None, None, None, remaining


def _array(items: list[str]) -> str | None:
    """A text[] literal; None (NULL) for no parents, as `array_agg` over no rows gives."""
    if not items:
        return None
    if any(_ARRAY_UNSAFE.search(i) for i in items):
        return "{" + ",".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items) + "}"
    return "{" + ",".join(items) + "}"


_SELL_NULL = """pnl_usd = NULL, realized_profit = NULL, cost_basis_usd = NULL, sale_proceeds_usd = NULL,
    net_sale_proceeds_usd = NULL, parent_id = NULL, parent_ids = NULL, updated_at = now()"""
_SELL_NOT_NULL = """(t.pnl_usd IS NOT NULL OR t.realized_profit IS NOT NULL OR t.cost_basis_usd IS NOT NULL
    OR t.sale_proceeds_usd IS NOT NULL OR t.net_sale_proceeds_usd IS NOT NULL OR t.parent_id IS NOT NULL
    OR t.parent_ids IS NOT NULL)"""


def _sell(value: str, kept: str) -> str:
    return f"CASE WHEN t.side = 'SELL' THEN {value} ELSE {kept} END"


def _statements(scope: sql.Scope) -> list[str]:
    """NULL for in-scope orders the recomputation has no values for (first, while the planner's
    statistics of trade_records still hold), then set where different."""
    def counted(update: str) -> str:  # (sell orders, buy orders) updated
        return (f"WITH u AS ({update} RETURNING t.side) SELECT count(*) FILTER (WHERE side = 'SELL'), "
                "count(*) FILTER (WHERE side = 'BUY') FROM u")

    return [
        counted(f"""UPDATE trade_records t SET {_SELL_NULL}
            WHERE t.side = 'SELL' AND {scope.orders} AND {_SELL_NOT_NULL}
              AND NOT EXISTS (SELECT 1 FROM {TABLE} e WHERE e.order_id = t.order_id AND e.side = 'SELL')"""),
        counted(f"""UPDATE trade_records t SET remaining_size = NULL, updated_at = now()
            WHERE t.side = 'BUY' AND {scope.orders} AND t.remaining_size IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM {TABLE} e WHERE e.order_id = t.order_id AND e.side = 'BUY')"""),
        # Both sides in one pass over trade_records (each row is rewritten once either way).
        counted(f"""UPDATE trade_records t SET
                pnl_usd = {_sell("e.pnl", "t.pnl_usd")}, realized_profit = {_sell("e.pnl", "t.realized_profit")},
                cost_basis_usd = {_sell("e.basis", "t.cost_basis_usd")},
                sale_proceeds_usd = {_sell("e.proceeds", "t.sale_proceeds_usd")},
                net_sale_proceeds_usd = {_sell("e.net", "t.net_sale_proceeds_usd")},
                parent_id = {_sell("e.parent_id", "t.parent_id")}, parent_ids = {_sell("e.parent_ids", "t.parent_ids")},
                remaining_size = CASE WHEN t.side = 'BUY' THEN e.remaining ELSE t.remaining_size END,
                updated_at = now()
            FROM {TABLE} e
            WHERE e.order_id = t.order_id AND e.side = t.side AND {scope.orders}
              AND CASE WHEN t.side = 'SELL' THEN {sql.sell_field_diff()} ELSE {sql.buy_field_diff()} END"""),
    ]


async def write(driver: asyncpg.Connection, data: Sequence[bytes], scope: sql.Scope,
                from_workers: bool = False) -> tuple[int, int]:
    """Set the derived fields of the orders in `scope` where they differ; (sells, buys) updated.
    `data` is the COPY data of the accumulated fields (OrderFields.encode), one part per worker."""
    await driver.execute(
        f"CREATE TEMP TABLE {TABLE} (order_id text, side text, pnl numeric, basis numeric, proceeds numeric, "
        "net numeric, parent_id text, parent_ids varchar[], remaining numeric) ON COMMIT DROP")
    for part in data:
        await copy_text(driver, TABLE, COLUMNS, part)
    if from_workers:
        await _settle_split_orders(driver)
    await driver.execute(f"ANALYZE {TABLE}")
    # Hash joins, whatever the statistics of trade_records say: the temp table has no index (building
    # one costs more than it saves), and a nested loop chosen on statistics that call the derived
    # fields all NULL scanned it once per order — minutes at 500k orders.
    caller = await driver.fetchval("SELECT current_setting('enable_nestloop')")
    await driver.execute("SET LOCAL enable_nestloop = off")
    sells = buys = 0
    for statement in _statements(scope):
        row = await driver.fetchrow(statement, *scope.params)
        assert row is not None
        sells, buys = sells + row[0], buys + row[1]
    await driver.execute("SELECT set_config('enable_nestloop', $1, true)", caller)
    return sells, buys


async def _settle_split_orders(driver: asyncpg.Connection) -> None:
    """Workers split the fills by symbol; an order id found under two symbols (bad data, never from
    the exchange) then has a row from each. Such orders get their fields from the SQL of the
    real-time path instead, over the allocations just written — the reference both paths agree on."""
    ids = [r[0] for r in await driver.fetch(
        f"SELECT order_id FROM {TABLE} GROUP BY order_id, side HAVING count(*) > 1")]
    if not ids:
        return
    scope = sql.Scope.order_ids(ids)
    await driver.execute(f"DELETE FROM {TABLE} WHERE order_id = ANY($1::text[])", ids)
    await driver.execute(f"""INSERT INTO {TABLE} (order_id, side, pnl, basis, proceeds, net, parent_id, parent_ids)
        SELECT e.order_id, 'SELL', e.pnl, e.basis, e.proceeds, e.net, e.parent_id, e.parent_ids
        FROM ({sql.expected_sell_fields(scope)}) e""", ids)
    await driver.execute(f"""INSERT INTO {TABLE} (order_id, side, remaining)
        SELECT e.order_id, 'BUY', e.remaining FROM ({sql.expected_buy_fields(scope)}) e""", ids)
