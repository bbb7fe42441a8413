"""The alerts panel: what reached the alert endpoint and what became of it (table `alerts`).

Status and reason come from the inbox as stored (`status`, `status_reason`); nothing is re-derived
here, so the panel says exactly what the alert worker decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared_data.models import Alert

# What a person reads for each stored status.
OUTCOME = {
    "accepted": "received",
    "ordered": "ordered",
    "duplicate": "refused",
    "stale": "refused",
    "unauthorized": "refused",
    "invalid": "refused",
    "rate_limited": "refused",
    "rejected_risk": "refused",
    "failed": "failed",
}


@dataclass(frozen=True)
class AlertRow:
    id: int
    received_at: datetime
    source: str
    symbol: str | None
    action: str | None
    size: Decimal | None
    quote_amount: Decimal | None
    status: str
    outcome: str  # received | ordered | refused | failed
    status_reason: str | None
    order_id: str | None
    processed_at: datetime | None


async def recent_alerts(session: AsyncSession, limit: int) -> list[AlertRow]:
    a = Alert
    stmt = select(a).order_by(a.received_at.desc(), a.id.desc()).limit(limit)
    return [
        AlertRow(r.id, r.received_at, r.source, r.symbol, r.action, r.size, r.quote_amount, r.status,
                 OUTCOME.get(r.status, r.status), r.status_reason, r.order_id, r.processed_at)
        for r in await session.scalars(stmt)
    ]
