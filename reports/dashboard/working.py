"""Dashboard reads for issue #19: working orders (resting entries/exits and their steps) and dust."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def working_orders(session: AsyncSession, limit: int) -> list[dict[str, Any]]:
    """Orders still working first, then the most recent finished ones; the last step of each."""
    rows = await session.execute(text(
        """SELECT id, purpose, symbol, side, order_type, state, target_size, filled_size, limit_price,
                  current_order_id, amend_count AS reprices, post_only_rejections, escalated, exit_reason,
                  started_at, deadline_at, updated_at, jsonb_array_length(steps) AS steps,
                  steps -> (jsonb_array_length(steps) - 1) AS last_step
           FROM working_orders
           ORDER BY (state IN ('working', 'escalated', 'unsure')) DESC, started_at DESC LIMIT :limit"""),
        {"limit": limit})
    return [dict(r._mapping) for r in rows]


async def dust(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(text("SELECT symbol, size, cost_basis_usd, lots FROM dust_balances ORDER BY symbol"))
    return [dict(r._mapping) for r in rows]
