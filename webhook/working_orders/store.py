"""Persistence of working orders: their row, their steps, and the link from each child order row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.enums import ExitReason, OrderSource, Side
from shared_data import order_store
from webhook.working_orders.types import EntryOrderType, Purpose, Step, WorkingOrder, WorkingState


def _num(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _ceiling(trigger: dict[str, object] | None) -> Decimal | None:
    value = (trigger or {}).get("price_ceiling")
    return None if value is None else Decimal(str(value))


async def exists(session: AsyncSession, wo_id: str) -> bool:
    row = (await session.execute(text("SELECT 1 FROM working_orders WHERE id = :id"), {"id": wo_id})).first()
    return row is not None


async def exists_and_open_order(session: AsyncSession, wo_id: str, symbol: str, side: Side) -> tuple[bool, bool]:
    """`exists(wo_id)` and order_store.open_order_exists(symbol, side), in one statement."""
    started = select(literal_column("1")).select_from(text("working_orders")).where(
        text("id = :id").bindparams(id=wo_id)).exists()
    row = (await session.execute(select(started, order_store.open_orders_query(symbol, side).exists()))).one()
    return bool(row[0]), bool(row[1])


async def insert(session: AsyncSession, wo: WorkingOrder, now: datetime) -> bool:
    """False when this working order was recorded before (a replayed intent)."""
    result = await session.execute(text(
        """INSERT INTO working_orders (id, intent_key, purpose, symbol, side, order_type, source, state, target_size,
               exit_reason, hard_stop_price, started_at, deadline_at, updated_at, trigger, exit_target_price,
               exit_quote_price)
           VALUES (:id, :intent_key, :purpose, :symbol, :side, :order_type, :source, :state, CAST(:target AS numeric),
               :exit_reason, CAST(:hard_stop AS numeric), :started_at, :deadline_at, :now, CAST(:trigger AS jsonb),
               CAST(:exit_target AS numeric), CAST(:exit_quote AS numeric))
           ON CONFLICT (id) DO NOTHING"""), {
        "intent_key": wo.intent_key, "trigger": json.dumps(wo.trigger, default=str),
        "exit_target": _num(wo.exit_target_price), "exit_quote": _num(wo.exit_quote_price),
        "id": wo.id, "purpose": wo.purpose.value, "symbol": wo.symbol, "side": wo.side.value,
        "order_type": wo.order_type.value, "source": wo.source.value, "state": wo.state.value,
        "target": _num(wo.target_size), "exit_reason": wo.exit_reason.value if wo.exit_reason else None,
        "hard_stop": _num(wo.hard_stop_price), "started_at": wo.started_at, "deadline_at": wo.deadline_at,
        "now": now})
    return bool(result.rowcount)  # type: ignore[attr-defined]


_LINK = """WITH linked AS (UPDATE trade_records SET working_order_id = :id, amend_count = :reprices,
               escalated = :escalated WHERE client_order_id = :coid)
           """


async def save(session: AsyncSession, wo: WorkingOrder, step: Step | Sequence[Step] | None, now: datetime,
               link: str | None = None) -> None:
    """Write the current state, appending `step` (or several, in order) to the ordered list of steps;
    `link`: a child's client_order_id to mark as the working order's (link_child), in the same statement."""
    steps = [] if step is None else [step] if isinstance(step, Step) else list(step)
    await session.execute(text(
        (_LINK if link is not None else "") +
        """UPDATE working_orders SET state = :state, filled_size = CAST(:filled AS numeric),
               limit_price = CAST(:limit AS numeric), current_order_id = :order_id, amend_count = :reprices,
               post_only_rejections = :rejections, escalated = :escalated, updated_at = :now, children = :children,
               finished_at = CASE WHEN :final THEN :now ELSE finished_at END,
               steps = steps || CAST(:step AS jsonb)
           WHERE id = :id"""), {
        "id": wo.id, "state": wo.state.value, "filled": _num(wo.filled_size), "limit": _num(wo.limit_price),
        "order_id": wo.order_id, "reprices": wo.reprice_count, "rejections": wo.post_only_rejections,
        "escalated": wo.escalated, "now": now, "final": wo.state.is_final, "children": wo.children,
        "step": json.dumps([s.to_json() for s in steps]),
        **({"coid": link} if link is not None else {})})


async def link_child(session: AsyncSession, client_order_id: str, wo: WorkingOrder) -> None:
    """Mark a child's trade_records row as part of the working order, with its re-price count."""
    await session.execute(text(
        """UPDATE trade_records SET working_order_id = :wo, amend_count = :reprices, escalated = :escalated
           WHERE client_order_id = :coid"""),
        {"wo": wo.id, "reprices": wo.reprice_count, "escalated": wo.escalated, "coid": client_order_id})


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
