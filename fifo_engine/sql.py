"""SQL of the FIFO persistence: allocation writes and the FIFO-derived fields of trade_records.

The derived fields are always computed by the same statements from `fifo_allocations` and `fills`,
whether for a few orders (the real-time path) or for a symbol / everything (rebuild and check),
so both paths produce identical values:
- sell orders: pnl_usd = realized_profit = Σ pnl_usd, cost_basis_usd, sale_proceeds_usd,
  net_sale_proceeds_usd = Σ of the slices of all the order's fills; parent_ids = the buy orders
  in FIFO order of their first consumed lot, parent_id = parent_ids[1] (NULL when none);
- buy orders: remaining_size = Σ buy fill sizes − Σ allocated from those fills (NULL without fills).
"""

from __future__ import annotations

from dataclasses import dataclass

from fifo_engine.model import ALLOCATION_COLUMNS

_TYPES = {
    "slice_index": "int", "buy_time": "timestamptz", "sell_time": "timestamptz", "missing_basis": "bool",
    "allocated_size": "numeric", "buy_price": "numeric", "sell_price": "numeric", "buy_fees_per_unit": "numeric",
    "sell_fees_per_unit": "numeric", "cost_basis_usd": "numeric", "proceeds_usd": "numeric",
    "net_proceeds_usd": "numeric", "pnl_usd": "numeric",
}
NUMERIC_POSITIONS = tuple(i for i, c in enumerate(ALLOCATION_COLUMNS) if _TYPES.get(c) == "numeric")
COLUMN_LIST = ", ".join(ALLOCATION_COLUMNS)


def _param_type(column: str) -> str:
    kind = _TYPES.get(column, "text")
    return "text" if kind == "numeric" else kind  # numerics travel as text: exact and fast


INSERT_ALLOCATIONS = (
    f"INSERT INTO fifo_allocations ({COLUMN_LIST})\nSELECT "
    + ", ".join(f"u.{c}::numeric" if _TYPES.get(c) == "numeric" else f"u.{c}" for c in ALLOCATION_COLUMNS)
    + "\nFROM unnest("
    + ", ".join(f"${i}::{_param_type(c)}[]" for i, c in enumerate(ALLOCATION_COLUMNS, start=1))
    + f") AS u({COLUMN_LIST})"
)

DELETE_SELL_SLICES = """
DELETE FROM fifo_allocations WHERE sell_trade_id = ANY($1::text[]) RETURNING sell_order_id, buy_order_id
"""


# The trade_records columns the FIFO path writes.
DERIVED_FIELDS = ("pnl_usd", "realized_profit", "cost_basis_usd", "sale_proceeds_usd", "net_sale_proceeds_usd",
                  "parent_id", "parent_ids", "remaining_size", "updated_at")


@dataclass(frozen=True, slots=True)
class Scope:
    """Which rows a statement covers: SQL conditions on trade_records (t), fifo_allocations (fa) and
    fills (f), all using the same parameters."""

    orders: str
    allocations: str
    fills: str
    params: tuple[object, ...]

    @classmethod
    def everything(cls) -> Scope:
        return cls("TRUE", "TRUE", "TRUE", ())

    @classmethod
    def symbol(cls, symbol: str) -> Scope:
        # Rows of other symbols that point at this symbol's sells are in scope too (they collide on
        # (sell_trade_id, slice_index) with the recomputed rows).
        return cls("t.symbol = $1",
                   "(fa.symbol = $1 OR fa.sell_trade_id IN (SELECT trade_id FROM fills WHERE symbol = $1))",
                   "f.symbol = $1", (symbol,))

    @classmethod
    def order_ids(cls, ids: list[str], param: int = 1) -> Scope:
        p = f"${param}::text[]"
        return cls(f"t.order_id = ANY({p})", f"fa.sell_order_id = ANY({p})", f"f.order_id = ANY({p})", (ids,))


def expected_sell_fields(scope: Scope) -> str:
    return f"""
WITH scope AS (SELECT t.order_id FROM trade_records t WHERE t.side = 'SELL' AND {scope.orders}),
agg AS (
    SELECT fa.sell_order_id AS order_id, sum(fa.pnl_usd) AS pnl, sum(fa.cost_basis_usd) AS basis,
           sum(fa.proceeds_usd) AS proceeds, sum(fa.net_proceeds_usd) AS net
    FROM fifo_allocations fa JOIN scope s ON s.order_id = fa.sell_order_id
    GROUP BY fa.sell_order_id),
firsts AS (
    SELECT DISTINCT ON (fa.sell_order_id, fa.buy_order_id) fa.sell_order_id AS order_id, fa.buy_order_id,
           bf.trade_time, bf.sequence_timestamp, bf.trade_id
    FROM fifo_allocations fa JOIN scope s ON s.order_id = fa.sell_order_id
         JOIN fills bf ON bf.trade_id = fa.buy_trade_id
    WHERE fa.buy_order_id IS NOT NULL
    ORDER BY fa.sell_order_id, fa.buy_order_id, bf.trade_time, bf.sequence_timestamp NULLS FIRST,
             bf.trade_id COLLATE "C"),
par AS (
    SELECT order_id,
           array_agg(buy_order_id ORDER BY trade_time, sequence_timestamp NULLS FIRST, trade_id COLLATE "C") AS ids
    FROM firsts GROUP BY order_id)
SELECT s.order_id, agg.pnl, agg.basis, agg.proceeds, agg.net, par.ids[1] AS parent_id, par.ids AS parent_ids
FROM scope s LEFT JOIN agg ON agg.order_id = s.order_id LEFT JOIN par ON par.order_id = s.order_id"""


def expected_buy_fields(scope: Scope) -> str:
    return f"""
WITH scope AS (SELECT t.order_id FROM trade_records t WHERE t.side = 'BUY' AND {scope.orders}),
bf AS (SELECT f.order_id, f.trade_id, f.size FROM fills f JOIN scope s ON s.order_id = f.order_id
       WHERE f.side = 'BUY'),
used AS (SELECT fa.buy_trade_id, sum(fa.allocated_size) AS used
         FROM fifo_allocations fa JOIN bf ON bf.trade_id = fa.buy_trade_id GROUP BY fa.buy_trade_id),
rem AS (SELECT bf.order_id, sum(bf.size) - coalesce(sum(used.used), 0) AS remaining
        FROM bf LEFT JOIN used ON used.buy_trade_id = bf.trade_id GROUP BY bf.order_id)
SELECT s.order_id, rem.remaining FROM scope s LEFT JOIN rem ON rem.order_id = s.order_id"""


def _numeric_differs(stored: str, expected: str) -> str:
    """Different value or different scale (2505.00 vs 2505): the stored text must not depend on the
    history of updates (a replay can reach an equal value with another scale)."""
    return f"({stored} IS DISTINCT FROM {expected} OR scale({stored}) IS DISTINCT FROM scale({expected}))"


def sell_field_diff(t: str = "t") -> str:
    """A sell order row `t` whose derived fields differ from the expected row `e`."""
    return "(" + " OR ".join([
        _numeric_differs(f"{t}.pnl_usd", "e.pnl"), _numeric_differs(f"{t}.realized_profit", "e.pnl"),
        _numeric_differs(f"{t}.cost_basis_usd", "e.basis"), _numeric_differs(f"{t}.sale_proceeds_usd", "e.proceeds"),
        _numeric_differs(f"{t}.net_sale_proceeds_usd", "e.net"), f"{t}.parent_id IS DISTINCT FROM e.parent_id",
        f"{t}.parent_ids IS DISTINCT FROM e.parent_ids"]) + ")"


def buy_field_diff(t: str = "t") -> str:
    return _numeric_differs(f"{t}.remaining_size", "e.remaining")


def update_sell_fields(scope: Scope) -> str:
    """Set the sell orders' derived fields where they differ; returns one row per updated order."""
    return f"""
WITH e AS ({expected_sell_fields(scope)})
UPDATE trade_records t SET pnl_usd = e.pnl, realized_profit = e.pnl, cost_basis_usd = e.basis,
    sale_proceeds_usd = e.proceeds, net_sale_proceeds_usd = e.net, parent_id = e.parent_id,
    parent_ids = e.parent_ids, updated_at = now()
FROM e WHERE t.order_id = e.order_id AND {sell_field_diff()}
RETURNING t.order_id"""


def update_buy_fields(scope: Scope) -> str:
    return f"""
WITH e AS ({expected_buy_fields(scope)})
UPDATE trade_records t SET remaining_size = e.remaining, updated_at = now()
FROM e WHERE t.order_id = e.order_id AND {buy_field_diff()}
RETURNING t.order_id"""


# The real-time path's one statement for both sides: $1 = sell order ids, $2 = buy order ids. (Both
# UPDATEs see the allocation rows inserted by the transaction's earlier statements.) Every access of
# the real-time path is a lookup by key, and its plans must stay so however stale the statistics are
# (a new database, autovacuum off or behind): the ledger prices sequential scans out (a cached generic
# plan made while the tables were small scanned them whole ever after — 808 fills/s at 100k instead of
# 5,000+) and plans a large batch afresh (see plan_mode). LOCK_FOR_APPLY sets both for the rest of
# apply_fills; this statement puts the caller's values ($3, $4) back.
UPDATE_ORDER_FIELDS = f"""
WITH s AS ({update_sell_fields(Scope.order_ids([], 1))}),
b AS ({update_buy_fields(Scope.order_ids([], 2))})
SELECT order_id FROM s UNION ALL SELECT order_id FROM b
UNION ALL SELECT NULL WHERE set_config('plan_cache_mode', $3, true) IS NULL
                          OR set_config('enable_seqscan', $4, true) IS NULL"""

# The FIFO lock ({key}), plus the planner settings of the rest of apply_fills ({mode}: plan_mode's answer;
# SET LOCAL, undone by the above).
_LOCK_FOR_APPLY = """SELECT pg_advisory_xact_lock({key}), current_setting('plan_cache_mode'),
       current_setting('enable_seqscan'), set_config('plan_cache_mode', {mode}, true),
       set_config('enable_seqscan', 'off', true)"""
LOCK_FOR_APPLY = _LOCK_FOR_APPLY.format(key="$1", mode="$2::text")
# With sequential scans priced out, a generic plan is made of key lookups too: a batch of a few fills (the
# real-time path: one order's) keeps the plan cache's choice, since planning UPDATE_ORDER_FIELDS afresh
# costs more than running it (≈ 0.55 of ≈ 0.8 ms). A large batch (a catch-up) is planned afresh for its
# long id arrays. bench/fills_fifo.py at 100,000 fills: 10 per transaction 3,068 fills/s cached vs 3,019
# afresh; 100 per transaction 7,564 vs 8,846.
SMALL_BATCH_FILLS = 10


def plan_mode(fills: int) -> str:
    return "auto" if fills <= SMALL_BATCH_FILLS else "force_custom_plan"


def lock_for_apply_if(condition: str, key: str, mode: str) -> str:
    """LOCK_FOR_APPLY as a query inside a caller's statement (lock key `key`, plan mode `mode`, e.g. "$32"
    and "$33"), taking the lock only where `condition` holds: one row when it did, none when it did not."""
    return _LOCK_FOR_APPLY.format(key=key, mode=f"{mode}::text") + f"\nWHERE {condition}"


def count_updated(statement: str) -> str:
    return f"WITH u AS ({statement}) SELECT count(*) FROM u"


# ---- rebuild / check against a temp table of recomputed rows ------------------------------------
# The fills of a recomputation in the total order, as FifoBook.apply_rows takes them: numerics as
# PostgreSQL prints them (plain digits, canonical: cheaper to decode than binary NUMERIC) and a flag
# for the checks of arithmetic.validate done here (no NaN or infinity, positive size, nothing
# negative or too large, known side, ids); a row without it goes through those checks in Python,
# which reject it with a clear message. The text of trade_time goes into the COPY data as it is (the
# server formats it ~8× cheaper than datetime.isoformat; READ_SETTINGS make it ISO and UTC). `first`:
# an ORDER BY prefix (workers read symbol by symbol).
FILLS_IN_ORDER = """
SELECT f.trade_id, f.order_id, f.symbol, f.side, f.price::text, f.size::text, f.commission::text, f.trade_time,
       f.sequence_timestamp, f.portfolio_id,
       (f.trade_id <> '' AND f.order_id <> '' AND f.symbol <> '' AND f.side IN ('BUY', 'SELL')
        AND f.size > 0 AND f.size < 1e10 AND f.price >= 0 AND f.price < 1e10
        AND f.commission >= 0 AND f.commission < 1e10) AS checked,
       f.trade_time::text
FROM fills f WHERE {where}
ORDER BY {first}f.trade_time, f.sequence_timestamp NULLS FIRST, f.trade_id COLLATE "C"
"""

READ_SETTINGS = "SELECT set_config('DateStyle', 'ISO', true), set_config('TimeZone', 'UTC', true)"

NEW_TABLE = "fifo_recomputed"
CREATE_NEW_TABLE = (f"CREATE TEMP TABLE {NEW_TABLE} ON COMMIT DROP AS SELECT {COLUMN_LIST} "
                    "FROM fifo_allocations WITH NO DATA")
INDEX_NEW_TABLE = f"CREATE INDEX ON {NEW_TABLE} (sell_trade_id, slice_index)"
_ROW_N = "ROW(" + ", ".join(f"n.{c}" for c in ALLOCATION_COLUMNS) + ")::text"
_ROW_FA = "ROW(" + ", ".join(f"fa.{c}" for c in ALLOCATION_COLUMNS) + ")::text"
SAME_KEY = "n.sell_trade_id = fa.sell_trade_id AND n.slice_index = fa.slice_index"
# Byte identity without printing rows: equal values, and for NUMERIC also the same scale (2505.00 ≠ 2505).
SAME_ROW = "(" + " AND ".join(
    f"n.{c} = fa.{c} AND scale(n.{c}) = scale(fa.{c})" if _TYPES.get(c) == "numeric"
    else f"n.{c} IS NOT DISTINCT FROM fa.{c}"
    for c in ALLOCATION_COLUMNS if c not in ("sell_trade_id", "slice_index")) + ")"


def delete_stale(scope: Scope) -> str:
    """Delete rows in scope that are not byte-identical (as text) to a recomputed row."""
    return f"""
WITH d AS (DELETE FROM fifo_allocations fa WHERE {scope.allocations} AND NOT EXISTS (
    SELECT 1 FROM {NEW_TABLE} n WHERE {SAME_KEY} AND {SAME_ROW}) RETURNING 1)
SELECT count(*) FROM d"""


INSERT_MISSING = f"""
WITH i AS (INSERT INTO fifo_allocations ({COLUMN_LIST})
    SELECT {", ".join(f"n.{c}" for c in ALLOCATION_COLUMNS)} FROM {NEW_TABLE} n
    WHERE NOT EXISTS (SELECT 1 FROM fifo_allocations fa WHERE {SAME_KEY}) RETURNING 1)
SELECT count(*) FROM i"""


def diff_rows(scope: Scope) -> str:
    """Stored rows in scope vs recomputed rows: missing, unexpected and differing slices."""
    return f"""
SELECT CASE WHEN fa.sell_trade_id IS NULL THEN 'allocation_missing'
            WHEN n.sell_trade_id IS NULL THEN 'allocation_unexpected'
            ELSE 'allocation_differs' END AS kind,
       coalesce(n.symbol, fa.symbol) AS symbol, coalesce(n.sell_trade_id, fa.sell_trade_id) AS sell_trade_id,
       coalesce(n.slice_index, fa.slice_index) AS slice_index,
       CASE WHEN n.sell_trade_id IS NOT NULL THEN {_ROW_N} END AS expected,
       CASE WHEN fa.sell_trade_id IS NOT NULL THEN {_ROW_FA} END AS stored
FROM {NEW_TABLE} n
FULL JOIN (SELECT * FROM fifo_allocations fa WHERE {scope.allocations}) fa ON {SAME_KEY}
WHERE fa.sell_trade_id IS NULL OR n.sell_trade_id IS NULL OR NOT {SAME_ROW}
ORDER BY 3, 4"""
