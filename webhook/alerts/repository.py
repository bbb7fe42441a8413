"""Storage of alerts and of rejected requests in `alerts`.

Real alerts are stored under their dedup key with `INSERT … ON CONFLICT (dedup_key) DO NOTHING`: no
row back means a duplicate. Requests that are not alerts (unauthorized, invalid, duplicates,
rate-limited) get a `rej:<uuid>` key, which no alert can have (the schema refuses ids with that
prefix), and never the body's secret.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.enums import AlertStatus
from shared_data.models import Alert as AlertRow
from webhook.alerts.contract import AlertOutcome, StoredAlert
from webhook.alerts.schema import REJECTED_KEY_PREFIX

UNKNOWN_SOURCE = "unknown"
_REASON_MAX = 1000


@dataclass(frozen=True)
class AlertRecord:
    """One row to write. Money fields are Decimal; `payload` is already masked and JSON-ready."""

    dedup_key: str
    source: str
    status: AlertStatus
    received_at: datetime
    symbol: str | None = None
    action: str | None = None
    quantity: Decimal | None = None
    notional: Decimal | None = None
    price: Decimal | None = None
    timenow: datetime | None = None
    strategy: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    body_sha256: str | None = None
    source_ip: str | None = None
    status_reason: str | None = None
    reason_code: str | None = None

    def values(self) -> dict[str, Any]:
        return {
            "dedup_key": self.dedup_key,
            "source": self.source[:16],
            "status": self.status.value,
            "received_at": self.received_at,
            "symbol": self.symbol,
            "action": self.action,
            "size": self.quantity,
            "quote_amount": self.notional,
            "price": self.price,
            "timenow": self.timenow,
            "strategy": self.strategy,
            "payload": self.payload,
            "body_sha256": self.body_sha256,
            "source_ip": self.source_ip[:64] if self.source_ip else None,
            "status_reason": self.status_reason[:_REASON_MAX] if self.status_reason else None,
            "reason_code": self.reason_code,
        }


def rejected_key() -> str:
    return f"{REJECTED_KEY_PREFIX}{uuid.uuid4().hex}"


async def insert_alert(session: AsyncSession, record: AlertRecord) -> int | None:
    """Insert under the record's dedup key; the new id, or None when the key already exists."""
    stmt = (
        pg_insert(AlertRow)
        .values(**record.values())
        .on_conflict_do_nothing(index_elements=[AlertRow.dedup_key])
        .returning(AlertRow.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def claim_next(session: AsyncSession) -> AlertRow | None:
    """The oldest accepted alert, row-locked for this transaction; others skip it."""
    stmt = (
        select(AlertRow)
        .where(AlertRow.status == AlertStatus.ACCEPTED.value)
        .order_by(AlertRow.received_at, AlertRow.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def to_stored(row: AlertRow, attempts: int | None = None) -> StoredAlert:
    return StoredAlert(
        id=row.id, dedup_key=row.dedup_key, source=row.source, symbol=row.symbol or "", action=row.action or "",
        quantity=row.size, notional=row.quote_amount, price=row.price, timenow=row.timenow,
        strategy=row.strategy, received_at=row.received_at,
        attempts=row.attempts if attempts is None else attempts, source_ip=row.source_ip,
    )


async def record_outcome(session: AsyncSession, alert_id: int, outcome: AlertOutcome, now: datetime,
                         attempts: int | None = None) -> None:
    """The outcome (and, given, the attempt count) in one UPDATE."""
    extra = {} if attempts is None else {"attempts": attempts}
    await session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id)
        .values(
            **extra,
            status=outcome.status.value,
            status_reason=outcome.reason[:_REASON_MAX] if outcome.reason else None,
            reason_code=outcome.code,
            client_order_id=outcome.client_order_id,
            order_id=outcome.order_id,
            processed_at=now,
        )
    )


async def resent_text_exists(session: AsyncSession, body_sha256: str, since: datetime) -> bool:
    """An alert with this exact body was stored since `since` (a plain-text message has no fire
    time, so TradingView's resends of it, 5 s apart, are recognised by their body)."""
    stmt = (select(AlertRow.id)
            .where(AlertRow.body_sha256 == body_sha256, AlertRow.received_at >= since,
                   ~AlertRow.dedup_key.startswith(REJECTED_KEY_PREFIX))
            .limit(1))
    return (await session.execute(stmt)).first() is not None


async def counts_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(AlertRow.status, func.count()).group_by(AlertRow.status))
    return {status: int(count) for status, count in rows}


async def rows_with_status(session: AsyncSession, statuses: Sequence[AlertStatus]) -> list[AlertRow]:
    stmt = select(AlertRow).where(AlertRow.status.in_([s.value for s in statuses])).order_by(AlertRow.id)
    return list((await session.execute(stmt)).scalars())


async def purge_rejected(session: AsyncSession, before: datetime) -> int:
    """Delete records of rejected requests (`rej:` keys) received before `before`. Real alerts stay:
    their dedup keys must outlive the staleness window, and they are the audit trail of orders."""
    result = await session.execute(
        delete(AlertRow).where(AlertRow.dedup_key.startswith(REJECTED_KEY_PREFIX), AlertRow.received_at < before)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
