"""Persistence of working orders: their row, their steps, and the link from each child order row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.enums import ExitReason, IngestVia, OrderSource, OrderStatus, Side
from shared_data import direct, order_store
from webhook.working_orders.types import EntryOrderType, Purpose, Step, WorkingOrder, WorkingState


def _ceiling(trigger: dict[str, object] | None) -> Decimal | None:
    value = (trigger or {}).get("price_ceiling")
    return None if value is None else Decimal(str(value))


# The open statuses are constants of ours, written into the text as order_store.open_orders_query's IN list.
_EXISTS_AND_OPEN = (
    "SELECT EXISTS (SELECT 1 FROM working_orders WHERE id = $1), EXISTS (SELECT 1 FROM trade_records"
    " WHERE symbol = $2 AND side = $3 AND status IN (" + ", ".join(f"'{s}'" for s in order_store.OPEN_STATUSES)
    + "))")


async def exists_and_open_order(sessions: async_sessionmaker[AsyncSession], wo_id: str, symbol: str,
                                side: Side) -> tuple[bool, bool]:
    """Whether working order `wo_id` exists, and order_store.open_order_exists(symbol, side): one statement."""
    row = await direct.fetchrow(sessions, _EXISTS_AND_OPEN, wo_id, symbol, side.value)
    assert row is not None  # a SELECT without FROM returns its one row
    return bool(row[0]), bool(row[1])


# Hand-written `$n` statements sent through shared_data.direct: each stands alone and commits by
# itself, at a third of the ORM path's CPU (these run two to five times per trade).
_INSERT = """INSERT INTO working_orders (id, intent_key, purpose, symbol, side, order_type, source, state, target_size,
        exit_reason, hard_stop_price, started_at, deadline_at, updated_at, trigger, exit_target_price,
        exit_quote_price)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16, $17)
    ON CONFLICT (id) DO NOTHING"""


async def insert(sessions: async_sessionmaker[AsyncSession], wo: WorkingOrder, now: datetime) -> bool:
    """False when this working order was recorded before (a replayed intent)."""
    status = await direct.execute(sessions, _INSERT, *_insert_args(wo, now))
    return status != "INSERT 0 0"


# A new working order's row and its first child's intent (order_store.record_child_intent's row) as one
# statement: both commit together, before the child is sent (were an INSERT each, the child's right after
# the working order's). Nothing is written for a working order recorded before (a replayed intent) nor, for
# an entry, beside an open order of its symbol and side (the check start_entry made in a statement of its
# own before; here it is in the same snapshot as the insert). Values are cast: they are selected, not VALUES.
_WO_COLUMNS = """id, intent_key, purpose, symbol, side, order_type, source, state, target_size, exit_reason,
    hard_stop_price, started_at, deadline_at, updated_at, trigger, exit_target_price, exit_quote_price"""
_OPEN_ORDER = (
    "EXISTS (SELECT 1 FROM trade_records WHERE symbol = $4::varchar AND side = $5::varchar AND status IN ("
    + ", ".join(f"'{s}'" for s in order_store.OPEN_STATUSES) + "))")


def _insert_with_child_sql(refuse_beside_open: bool) -> str:
    open_order = _OPEN_ORDER if refuse_beside_open else "false"
    return f"""WITH wo AS (INSERT INTO working_orders ({_WO_COLUMNS})
    SELECT $1::varchar, $2::varchar, $3::varchar, $4::varchar, $5::varchar, $6::varchar, $7::varchar, $8::varchar,
        $9::numeric, $10::varchar, $11::numeric, $12::timestamptz, $13::timestamptz, $14::timestamptz, $15::jsonb,
        $16::numeric, $17::numeric
    WHERE NOT {open_order}
    ON CONFLICT (id) DO NOTHING RETURNING id),
child AS (INSERT INTO trade_records ({order_store.CHILD_INTENT_COLUMNS})
    SELECT $18::varchar, $19::varchar, $4, $5, $20::varchar, $27::varchar, $21::numeric, $22::numeric, NULL,
        $23::jsonb, $10, $16, $17, $7, $28::varchar, $24::timestamptz, $1, $25::integer, $26::boolean FROM wo
    {order_store.CHILD_INTENT_CONFLICT}
    RETURNING 1)
SELECT (SELECT count(*) FROM child) > 0, EXISTS (SELECT 1 FROM working_orders WHERE id = $1), {open_order}"""


_INSERT_WITH_CHILD = {refuse: _insert_with_child_sql(refuse) for refuse in (False, True)}


def _insert_args(wo: WorkingOrder, now: datetime) -> list[Any]:
    return [wo.id, wo.intent_key, wo.purpose.value, wo.symbol, wo.side.value, wo.order_type.value,
            wo.source.value, wo.state.value, wo.target_size, wo.exit_reason.value if wo.exit_reason else None,
            wo.hard_stop_price, wo.started_at, wo.deadline_at, now, json.dumps(wo.trigger, default=str),
            wo.exit_target_price, wo.exit_quote_price]


@dataclass(frozen=True, slots=True)
class Inserted:
    written: bool  # the working order and its first child are recorded: send the child
    started: bool  # (not written) this working order was recorded before
    open_order: bool  # (not written) an open order of the symbol and side exists


async def insert_with_child(sessions: async_sessionmaker[AsyncSession], wo: WorkingOrder, now: datetime, *,
                            client_order_id: str, order_type: str, price: Decimal | None, size: Decimal | None,
                            trigger: dict[str, Any], order_time: datetime,
                            refuse_beside_open: bool = False) -> Inserted:
    """insert(wo) and its first child's order_store.record_child_intent, in one autocommit statement; or
    nothing, when the working order was recorded before or (`refuse_beside_open`) an open order of its
    symbol and side exists (exists_and_open_order's two answers, as seen by the insert)."""
    row = await direct.fetchrow(
        sessions, _INSERT_WITH_CHILD[refuse_beside_open], *_insert_args(wo, now),
        order_store.placeholder_order_id(client_order_id), client_order_id, order_type, price, size,
        json.dumps(trigger), order_time, wo.reprice_count, wo.escalated, OrderStatus.NEW.value, IngestVia.REST.value)
    assert row is not None  # the final SELECT has no FROM: one row
    return Inserted(bool(row[0]), bool(row[1]), bool(row[2]))


# The child's link rides along in the same statement as a CTE; a row already linked with these
# values is left alone (same row, no dead tuple per save). It also marks the live child sent
# (order_store.mark_sent's effect: its order id replaces the placeholder, NEW becomes PENDING): the
# placer leaves that to this save, which follows every accepted child before anything else is awaited.
# Crash-safe: until this commits the row is NEW, as while the exchange call was in flight, and a
# restart settles it by re-sending the same client_order_id (the exchange answers with the order).
_LINK = """WITH linked AS (UPDATE trade_records SET working_order_id = $1, amend_count = $6, escalated = $8,
        order_id = COALESCE($5::varchar, order_id),
        status = CASE WHEN $5::varchar IS NOT NULL AND status = 'NEW' THEN 'PENDING' ELSE status END,
        updated_at = CASE WHEN $5::varchar IS NOT NULL AND (order_id <> $5::varchar OR status = 'NEW')
            THEN now() ELSE updated_at END
        WHERE client_order_id = $13
          AND ((working_order_id, amend_count, escalated) IS DISTINCT FROM ($1::varchar, $6::integer, $8::boolean)
               OR ($5::varchar IS NOT NULL AND (order_id <> $5::varchar OR status = 'NEW'))))
    """
_SAVE = """UPDATE working_orders SET state = $2, filled_size = $3, limit_price = $4, current_order_id = $5,
        amend_count = $6, post_only_rejections = $7, escalated = $8, updated_at = $9::timestamptz, children = $10,
        finished_at = CASE WHEN $11::boolean THEN $9::timestamptz ELSE finished_at END,
        steps = steps || $12::jsonb
    WHERE id = $1"""


# A finished exit's realized P&L (the sum over its children, what the breakers count) read by the statement
# that saves its final state, instead of by a statement of its own right after: the save's writes change
# no pnl_usd, and the link may only add the linked child to the working order's rows (hence the OR), so
# this is the sum a read right after the save would see, as of the save's snapshot.
_SAVED = f"saved AS ({_SAVE})\nSELECT sum(pnl_usd) FROM trade_records WHERE working_order_id = $1"
_SAVE_PNL = f"WITH {_SAVED}"
_LINK_SAVE_PNL = f"{_LINK.rstrip()},\n{_SAVED} OR client_order_id = $13"


async def save(sessions: async_sessionmaker[AsyncSession], wo: WorkingOrder, step: Step | Sequence[Step] | None,
               now: datetime, link: str | None = None, *, realized_pnl: bool = False) -> Decimal | None:
    """Write the current state, appending `step` (or several, in order) to the ordered list of steps;
    `link`: a child's client_order_id whose trade_records row is marked as the working order's (with its
    re-price count and escalation) and, when `wo.order_id` is set (always that child's), as sent, in the
    same statement. `realized_pnl`: also return the sum of its children's pnl_usd after the save (None when
    no child has one); without it, None.
    One autocommit statement: it needs no transaction around it."""
    steps = [] if step is None else [step] if isinstance(step, Step) else list(step)
    args: list[Any] = [
        wo.id, wo.state.value, wo.filled_size, wo.limit_price, wo.order_id, wo.reprice_count,
        wo.post_only_rejections, wo.escalated, now, wo.children, wo.state.is_final,
        json.dumps([s.to_json() for s in steps])]
    if link is not None:
        args.append(link)
    if realized_pnl:
        row = await direct.fetchrow(sessions, _SAVE_PNL if link is None else _LINK_SAVE_PNL, *args)
        assert row is not None  # an aggregate without GROUP BY: one row
        pnl: Decimal | None = row[0]
        return pnl
    await direct.execute(sessions, _SAVE if link is None else _LINK + _SAVE, *args)
    return None


async def active(session: AsyncSession) -> list[dict[str, Any]]:
    """Working orders not finished yet (the dashboard's 'working orders' table)."""
    rows = await session.execute(text(
        """SELECT id, purpose, symbol, side, order_type, source, state, target_size, filled_size, limit_price,
                  current_order_id, amend_count, post_only_rejections, escalated, exit_reason, started_at,
                  deadline_at, updated_at, steps
           FROM working_orders WHERE state IN ('working', 'escalated', 'unsure') ORDER BY started_at"""))
    return [dict(r._mapping) for r in rows]


async def recent(session: AsyncSession, limit: int = 20) -> list[dict[str, Any]]:
    rows = await session.execute(text(
        """SELECT id, purpose, symbol, side, order_type, source, state, target_size, filled_size, limit_price,
                  current_order_id, amend_count, post_only_rejections, escalated, exit_reason, started_at,
                  deadline_at, updated_at, finished_at, steps
           FROM working_orders ORDER BY started_at DESC LIMIT :limit"""), {"limit": limit})
    return [dict(r._mapping) for r in rows]


async def load_working(session: AsyncSession) -> list[WorkingOrder]:
    """Working orders a previous run left on the book, rebuilt so this run finishes them.

    Filled amounts come from the child order rows (the fill processor keeps them current): the
    live child's own filled size, and everything its cancelled or replaced predecessors filled.
    """
    # unsure_coid: a child recorded but never answered (a crash, a lost answer): its fate is unknown.
    rows = (await session.execute(text(
        """SELECT w.*, coalesce((SELECT sum(t.filled_size) FROM trade_records t WHERE t.working_order_id = w.id
                                    AND t.order_id IS DISTINCT FROM w.current_order_id), 0) AS filled_before,
                  coalesce((SELECT t.filled_size FROM trade_records t WHERE t.order_id = w.current_order_id), 0)
                      AS child_filled,
                  (SELECT t.client_order_id FROM trade_records t WHERE t.order_id = w.current_order_id) AS coid,
                  coalesce((SELECT array_agg(t.order_id) FROM trade_records t WHERE t.working_order_id = w.id),
                           '{}') AS child_ids,
                  (SELECT t.client_order_id FROM trade_records t WHERE t.working_order_id = w.id AND t.status = 'NEW'
                   ORDER BY t.order_time DESC LIMIT 1) AS unsure_coid
           FROM working_orders w WHERE w.state IN ('working', 'escalated', 'unsure') ORDER BY w.started_at"""))).all()
    out = []
    for r in rows:
        m = r._mapping
        out.append(WorkingOrder(
            id=m["id"], intent_key=m["intent_key"], purpose=Purpose(m["purpose"]), symbol=m["symbol"],
            side=Side(m["side"]), order_type=EntryOrderType(m["order_type"]), source=OrderSource(m["source"]),
            target_size=m["target_size"], started_at=m["started_at"], deadline_at=m["deadline_at"],
            trigger=dict(m["trigger"] or {}), exit_reason=ExitReason(m["exit_reason"]) if m["exit_reason"] else None,
            exit_target_price=m["exit_target_price"], exit_quote_price=m["exit_quote_price"],
            hard_stop_price=m["hard_stop_price"], state=WorkingState(m["state"]), limit_price=m["limit_price"],
            order_id=m["current_order_id"], client_order_id=m["coid"], children=m["children"],
            child_filled=m["child_filled"] or Decimal(0), filled_before=m["filled_before"] or Decimal(0),
            reprice_count=m["amend_count"], post_only_rejections=m["post_only_rejections"],
            escalated=m["escalated"], child_ids=list(m["child_ids"] or []),
            price_ceiling=_ceiling(m["trigger"]), unsure_coid=m["unsure_coid"]))
    return out
