"""FIFO-derived trade_records fields computed in Python during a rebuild.

The real-time path and the validator compute these fields in SQL (sql.py); a rebuild over millions
of fills computes them while it streams the slices (one pass, no big aggregate queries) and writes
them in batches, by key, while the slices are still being copied — over many fills, the workers
send each symbol's orders as soon as its last fill is matched, so the UPDATEs of trade_records
overlap the matching instead of following it. Both give the same values: sums are exact (Postgres
`sum` over NUMERIC is exact and keeps the largest scale, as exact Decimal addition does), and a
sell order's parents appear in the order their first lots were consumed, which is the FIFO (buy
fill) order the SQL sorts by. The integration tests compare both paths byte for byte.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from decimal import Context, Decimal, localcontext
from typing import Any, NamedTuple

import asyncpg

from fifo_engine import sql
from fifo_engine.engine import SliceRow
from fifo_engine.pg import NULL, copy_text, encode_rows, escape_copy, needs_escape

_EXACT = Context(prec=200)  # sums of ≤ 40-digit values stay exact
_ARRAY_UNSAFE = re.compile(r'[\\",{}\s]|^NULL$', re.IGNORECASE)
_ARRAY_CHARS = re.compile(r'[\\",{}\s]')  # searched once over all the ids of a batch
TABLE = "fifo_order_fields"
COLUMNS = ("order_id", "side", "pnl", "basis", "proceeds", "net", "parent_id", "parent_ids", "remaining", "seen")
_NULLS = "\t".join(["\\N"] * 6)  # pnl … parent_ids of a buy row


class FieldBatch(NamedTuple):
    """Recomputed fields of some orders: rows of TABLE as text COPY data (numerics as `str(Decimal)`,
    which numeric_in reads back with the same value and scale), and how many orders. Workers send these."""

    data: bytes
    orders: int


class OrderFields:
    """Per-order accumulators: sell orders (Σ pnl, basis, proceeds, net; parents in FIFO order) and
    buy orders (Σ fill sizes − Σ allocated from their lots)."""

    def __init__(self) -> None:
        self.sells: dict[str, list[Any]] = {}  # [pnl, basis, proceeds, net, parents, first fill's time]
        self.buys: dict[str, Decimal] = {}
        self.buys_seen: dict[str, str] = {}  # first fill's time (the database's text)

    def add_fills(self, fills: Iterable[Sequence[Any]]) -> None:
        """Fill rows of sql.FILLS_IN_ORDER, before their slices."""
        buys = self.buys
        with localcontext(_EXACT):
            for f in fills:
                if f[3] == "BUY":
                    size = Decimal(f[5])
                    held = buys.get(f[1])
                    if held is None:
                        buys[f[1]] = size
                        self.buys_seen[f[1]] = f[11]
                    else:
                        buys[f[1]] = held + size

    def add_slices(self, rows: Iterable[SliceRow]) -> None:
        """FifoBook.apply_rows' slices."""
        sells, buys = self.sells, self.buys
        with localcontext(_EXACT):
            for sell, lot, _, size, basis, proceeds, net, pnl, _ in rows:
                acc = sells.get(sell[2])
                if acc is None:
                    acc = sells[sell[2]] = [pnl, basis, proceeds, net, [], sell[6]]
                else:
                    acc[0] += pnl
                    acc[1] += basis
                    acc[2] += proceeds
                    acc[3] += net
                if lot is not None:
                    buy_order = lot.order_id
                    if buy_order not in acc[4]:
                        acc[4].append(buy_order)
                    buys[buy_order] -= size

    def batch(self) -> FieldBatch:
        return FieldBatch(self._encode(), len(self.sells) + len(self.buys))

    def _encode(self) -> bytes:
        buys = "".join(self.buys)  # every parent is a buy order of these fills
        if needs_escape("".join(self.sells), buys):
            return encode_rows(self._rows())
        joined = "\0".join(self.buys)
        array = _array if _ARRAY_CHARS.search(joined) or "NULL" in joined.upper() else _plain_array
        out = []
        for order_id, (pnl, basis, proceeds, net, parents, seen) in self.sells.items():
            literal = array(parents)
            if literal is None:
                first = literal = NULL
            else:
                first = parents[0]
                if "\\" in literal:
                    literal = escape_copy(literal)
            out.append("\t".join((order_id, "SELL", str(pnl), str(basis), str(proceeds), str(net), first, literal,
                                  NULL, seen)))
        buys_seen = self.buys_seen
        for order_id, remaining in self.buys.items():
            out.append(f"{order_id}\tBUY\t{_NULLS}\t{remaining}\t{buys_seen[order_id]}")
        out.append("")
        return "\n".join(out).encode()

    def _rows(self) -> Iterable[tuple[Any, ...]]:
        for order_id, (pnl, basis, proceeds, net, parents, seen) in self.sells.items():
            yield (order_id, "SELL", pnl, basis, proceeds, net, parents[0] if parents else None, _array(parents), None,
                   seen)
        for order_id, remaining in self.buys.items():
            yield order_id, "BUY", None, None, None, None, None, None, remaining, self.buys_seen[order_id]


def _plain_array(items: list[str]) -> str | None:
    """_array for ids known to need no quoting."""
    return "{" + ",".join(items) + "}" if items else None


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


def _count(update: str) -> str:
    return f"WITH u AS ({update} RETURNING 1) SELECT count(*) FROM u"


def _without_fills(side: str, scope: sql.Scope) -> str:
    """In-scope orders of `side` with no fill of that side in scope: the recomputation gives them no
    values (every sell fill makes at least one slice, every buy fill a lot), so they get NULL."""
    return f"""t.side = '{side}' AND {scope.orders} AND NOT EXISTS (
        SELECT 1 FROM fills f WHERE f.order_id = t.order_id AND f.side = '{side}' AND {scope.fills})"""


def _clear_statements(scope: sql.Scope, split: bool) -> tuple[str, str]:
    """With `split`, the next parameter lists the split orders, which are left to FieldWriter.finish."""
    keep = f" AND NOT t.order_id = ANY(${len(scope.params) + 1}::text[])" if split else ""
    return (
        _count(f"UPDATE trade_records t SET {_SELL_NULL} WHERE {_without_fills('SELL', scope)} AND {_SELL_NOT_NULL}"
               + keep),
        _count("UPDATE trade_records t SET remaining_size = NULL, updated_at = now() "
               f"WHERE {_without_fills('BUY', scope)} AND t.remaining_size IS NOT NULL" + keep),
    )


def _sell(value: str, kept: str) -> str:
    return f"CASE WHEN t.side = 'SELL' THEN {value} ELSE {kept} END"


def _set_statement(scope: sql.Scope) -> str:
    """Set the fields of the orders in TABLE where they differ, both sides in one pass in the order
    the orders were first filled — about the order they were stored in, so the rows of one heap
    page are updated together instead of each reading (and evicting) the page again."""
    return f"""WITH u AS (UPDATE trade_records t SET
            pnl_usd = {_sell("e.pnl", "t.pnl_usd")}, realized_profit = {_sell("e.pnl", "t.realized_profit")},
            cost_basis_usd = {_sell("e.basis", "t.cost_basis_usd")},
            sale_proceeds_usd = {_sell("e.proceeds", "t.sale_proceeds_usd")},
            net_sale_proceeds_usd = {_sell("e.net", "t.net_sale_proceeds_usd")},
            parent_id = {_sell("e.parent_id", "t.parent_id")}, parent_ids = {_sell("e.parent_ids", "t.parent_ids")},
            remaining_size = CASE WHEN t.side = 'BUY' THEN e.remaining ELSE t.remaining_size END,
            updated_at = now()
        FROM (SELECT * FROM {TABLE} ORDER BY seen) e
        WHERE t.order_id = e.order_id AND t.side = e.side AND {scope.orders}
          AND CASE WHEN t.side = 'SELL' THEN {sql.sell_field_diff()} ELSE {sql.buy_field_diff()} END
        RETURNING t.side)
    SELECT count(*) FILTER (WHERE side = 'SELL'), count(*) FILTER (WHERE side = 'BUY') FROM u"""


# Lookups by key, whatever the statistics say: a batch of N orders costs N index probes of
# trade_records' primary key, never a scan of the whole table per batch (nor — the worst plan,
# once chosen on statistics that called every derived field NULL — a scan of the batch per order).
# (The batch travels by COPY: array parameters cost the client an ABC isinstance check per element.)
_BY_KEY = ("enable_hashjoin", "enable_mergejoin", "enable_seqscan")
_PLANNER_OFF = ("SELECT " + ", ".join(f"current_setting('{n}')" for n in _BY_KEY) + ", "
                + ", ".join(f"set_config('{n}', 'off', true)" for n in _BY_KEY))
_PLANNER_BACK = "SELECT " + ", ".join(f"set_config('{n}', ${i}, true)" for i, n in enumerate(_BY_KEY, start=1))


def _split_orders(scope: sql.Scope) -> str:
    """Order ids whose fields the recomputation cannot give whole (bad data, never from the exchange):
    fills in more than one FIFO queue (portfolio, symbol) — the queues are matched apart, by
    different workers or in an order that is not the SQL's parent order — or, for a scope narrower
    than everything, fills outside the scope."""
    spread = " OR ".join(f'min(f.{c} COLLATE "C") <> max(f.{c} COLLATE "C")' for c in ("portfolio_id", "symbol"))
    if scope == sql.Scope.everything():
        return f"SELECT f.order_id FROM fills f GROUP BY f.order_id HAVING {spread}"
    return f"""SELECT f.order_id FROM fills f
        WHERE f.order_id IN (SELECT f.order_id FROM fills f WHERE {scope.fills}
                             UNION ALL SELECT t.order_id FROM trade_records t WHERE {scope.orders})
        GROUP BY f.order_id HAVING {spread} OR bool_or(NOT ({scope.fills}))"""


class FieldWriter:
    """Writes recomputed order fields into trade_records, in the caller's transaction, where they
    differ in value or scale; counts what it changed.

    Orders whose fills the recomputation sees only in parts (`_split_orders`) are left out of the
    batches and set at the end from the real-time path's SQL over the allocations just written — the
    reference both paths agree on — so they too are written only where they differ."""

    def __init__(self, driver: asyncpg.Connection, scope: sql.Scope) -> None:
        self._driver = driver
        self._scope = scope
        self._set = _set_statement(scope)
        self._split: list[str] = []  # order ids set by finish(), found by start()
        self.sells = self.buys = 0  # orders updated
        self.seconds = 0.0  # spent writing (inside the caller's recomputation)

    async def start(self) -> None:
        """Before the first batch (worker processes start meanwhile): find the split orders, NULL the
        fields of in-scope orders the recomputation will have no values for, create the batch table."""
        started = time.monotonic()
        driver, params = self._driver, self._scope.params
        self._split = [r[0] for r in await driver.fetch(_split_orders(self._scope), *params)]
        sells, buys = _clear_statements(self._scope, bool(self._split))
        clear_params = (*params, self._split) if self._split else params
        self.sells += await driver.fetchval(sells, *clear_params)
        self.buys += await driver.fetchval(buys, *clear_params)
        await driver.execute(
            f"CREATE TEMP TABLE {TABLE} (order_id text, side text, pnl numeric, basis numeric, proceeds numeric,"
            " net numeric, parent_id text, parent_ids varchar[], remaining numeric, seen text COLLATE \"C\")"
            " ON COMMIT DROP")
        self.seconds += time.monotonic() - started

    async def write(self, batches: Sequence[FieldBatch]) -> None:
        started = time.monotonic()
        driver, params = self._driver, self._scope.params
        await driver.execute(f"TRUNCATE {TABLE}")
        for batch in batches:
            await copy_text(driver, TABLE, COLUMNS, batch.data)
        if self._split:
            await driver.execute(f"DELETE FROM {TABLE} WHERE order_id = ANY($1::text[])", self._split)
        caller = await driver.fetchrow(_PLANNER_OFF)
        assert caller is not None
        row = await driver.fetchrow(self._set, *params)
        assert row is not None
        self.sells, self.buys = self.sells + row[0], self.buys + row[1]
        await driver.execute(_PLANNER_BACK, *caller[:len(_BY_KEY)])
        self.seconds += time.monotonic() - started

    async def finish(self) -> tuple[int, int]:
        """Set the split orders; (sell orders, buy orders) updated in all."""
        if ids := self._split:
            self.sells += await self._driver.fetchval(
                sql.count_updated(sql.update_sell_fields(sql.Scope.order_ids(ids))), ids)
            self.buys += await self._driver.fetchval(
                sql.count_updated(sql.update_buy_fields(sql.Scope.order_ids(ids))), ids)
        return self.sells, self.buys
