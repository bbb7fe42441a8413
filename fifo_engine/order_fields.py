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
        """Fill rows (trade_id, order_id, symbol, side, price, size, …), before their slices."""
        buys = self.buys
        with localcontext(_EXACT):
            for f in fills:
                if f[3] == "BUY":
                    held = buys.get(f[1])
                    buys[f[1]] = f[5] if held is None else held + f[5]

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


_SELL_SET = """pnl_usd = e.pnl, realized_profit = e.pnl, cost_basis_usd = e.basis, sale_proceeds_usd = e.proceeds,
    net_sale_proceeds_usd = e.net, parent_id = e.parent_id, parent_ids = e.parent_ids, updated_at = now()"""
_SELL_NULL = """pnl_usd = NULL, realized_profit = NULL, cost_basis_usd = NULL, sale_proceeds_usd = NULL,
    net_sale_proceeds_usd = NULL, parent_id = NULL, parent_ids = NULL, updated_at = now()"""
_SELL_NOT_NULL = """(t.pnl_usd IS NOT NULL OR t.realized_profit IS NOT NULL OR t.cost_basis_usd IS NOT NULL
    OR t.sale_proceeds_usd IS NOT NULL OR t.net_sale_proceeds_usd IS NOT NULL OR t.parent_id IS NOT NULL
    OR t.parent_ids IS NOT NULL)"""


def _statements(scope: sql.Scope) -> list[str]:
    """NULL for in-scope orders the recomputation has no values for (first, while the planner's
    statistics of trade_records still hold), then set where different."""
    def counted(update: str) -> str:
        return f"WITH u AS ({update} RETURNING 1) SELECT count(*) FROM u"

    return [
        counted(f"""UPDATE trade_records t SET {_SELL_NULL}
            WHERE t.side = 'SELL' AND {scope.orders} AND {_SELL_NOT_NULL}
              AND NOT EXISTS (SELECT 1 FROM {TABLE} e WHERE e.order_id = t.order_id AND e.side = 'SELL')"""),
        counted(f"""UPDATE trade_records t SET remaining_size = NULL, updated_at = now()
            WHERE t.side = 'BUY' AND {scope.orders} AND t.remaining_size IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM {TABLE} e WHERE e.order_id = t.order_id AND e.side = 'BUY')"""),
        counted(f"""UPDATE trade_records t SET {_SELL_SET} FROM {TABLE} e
            WHERE e.order_id = t.order_id AND e.side = 'SELL' AND t.side = 'SELL' AND {scope.orders}
              AND {sql.sell_field_diff()}"""),
        counted(f"""UPDATE trade_records t SET remaining_size = e.remaining, updated_at = now() FROM {TABLE} e
            WHERE e.order_id = t.order_id AND e.side = 'BUY' AND t.side = 'BUY' AND {scope.orders}
              AND {sql.buy_field_diff()}"""),
    ]


async def write(driver: asyncpg.Connection, fields: OrderFields, scope: sql.Scope) -> tuple[int, int]:
    """Set the derived fields of the orders in `scope` where they differ; (sells, buys) updated."""
    await driver.execute(
        f"CREATE TEMP TABLE {TABLE} (order_id text, side text, pnl numeric, basis numeric, proceeds numeric, "
        "net numeric, parent_id text, parent_ids varchar[], remaining numeric) ON COMMIT DROP")
    await copy_text(driver, TABLE, COLUMNS, fields.encode())
    await driver.execute(f"CREATE INDEX ON {TABLE} (order_id, side)")
    await driver.execute(f"ANALYZE {TABLE}")
    counts = [int(await driver.fetchval(statement, *scope.params)) for statement in _statements(scope)]
    return counts[0] + counts[2], counts[1] + counts[3]
