"""Persistence of working orders: their row, their steps, and the link from each child order row."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from webhook.working_orders.types import Step, WorkingOrder


def _num(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


async def exists(session: AsyncSession, wo_id: str) -> bool:
    row = (await session.execute(text("SELECT 1 FROM working_orders WHERE id = :id"), {"id": wo_id})).first()
    return row is not None


async def insert(session: AsyncSession, wo: WorkingOrder, now: datetime) -> bool:
    """False when this working order was recorded before (a replayed intent)."""
    result = await session.execute(text(
        """INSERT INTO working_orders (id, purpose, symbol, side, order_type, source, state, target_size,
               exit_reason, hard_stop_price, started_at, deadline_at, updated_at)
           VALUES (:id, :purpose, :symbol, :side, :order_type, :source, :state, CAST(:target AS numeric),
               :exit_reason, CAST(:hard_stop AS numeric), :started_at, :deadline_at, :now)
           ON CONFLICT (id) DO NOTHING"""), {
        "id": wo.id, "purpose": wo.purpose.value, "symbol": wo.symbol, "side": wo.side.value,
        "order_type": wo.order_type.value, "source": wo.source.value, "state": wo.state.value,
        "target": _num(wo.target_size), "exit_reason": wo.exit_reason.value if wo.exit_reason else None,
        "hard_stop": _num(wo.hard_stop_price), "started_at": wo.started_at, "deadline_at": wo.deadline_at,
        "now": now})
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def save(session: AsyncSession, wo: WorkingOrder, step: Step | None, now: datetime) -> None:
    """Write the current state, appending `step` to the ordered list of steps."""
    await session.execute(text(
        """UPDATE working_orders SET state = :state, filled_size = CAST(:filled AS numeric),
               limit_price = CAST(:limit AS numeric), current_order_id = :order_id, amend_count = :reprices,
               post_only_rejections = :rejections, escalated = :escalated, updated_at = :now,
               finished_at = CASE WHEN :final THEN :now ELSE finished_at END,
               steps = steps || CAST(:step AS jsonb)
           WHERE id = :id"""), {
        "id": wo.id, "state": wo.state.value, "filled": _num(wo.filled_size), "limit": _num(wo.limit_price),
        "order_id": wo.order_id, "reprices": wo.reprice_count, "rejections": wo.post_only_rejections,
        "escalated": wo.escalated, "now": now, "final": wo.state.is_final,
        "step": json.dumps([step.to_json()] if step is not None else [])})


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
           FROM working_orders WHERE state IN ('working', 'escalated') ORDER BY started_at"""))
    return [dict(r._mapping) for r in rows]


async def recent(session: AsyncSession, limit: int = 20) -> list[dict[str, Any]]:
    rows = await session.execute(text(
        """SELECT id, purpose, symbol, side, order_type, source, state, target_size, filled_size, limit_price,
                  current_order_id, amend_count, post_only_rejections, escalated, exit_reason, started_at,
                  deadline_at, updated_at, finished_at, steps
           FROM working_orders ORDER BY started_at DESC LIMIT :limit"""), {"limit": limit})
    return [dict(r._mapping) for r in rows]
