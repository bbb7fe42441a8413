"""Storage of alerts and of rejected requests in `alerts`.

Real alerts are stored under their dedup key with `INSERT … ON CONFLICT (dedup_key) DO NOTHING`: no
row back means a duplicate. Requests that are not alerts (unauthorized, invalid, duplicates,
rate-limited) get a `rej:<uuid>` key, which no alert can have (the schema refuses ids with that
prefix), and never the body's secret.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import asyncpg
from sqlalchemy import delete, func, null, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.enums import AlertStatus
from shared_data import direct
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


# The columns of an insert, in AlertRecord.values() order; strategy and payload go as JSON text.
_INSERT_COLUMNS = ("dedup_key", "source", "status", "received_at", "symbol", "action", "size", "quote_amount",
                   "price", "timenow", "strategy", "payload", "body_sha256", "source_ip", "status_reason",
                   "reason_code")
_JSON_COLUMNS = frozenset({"strategy", "payload"})
_INSERT = (
    f"INSERT INTO alerts ({', '.join(_INSERT_COLUMNS)}) VALUES ("
    + ", ".join(f"${i}::jsonb" if c in _JSON_COLUMNS else f"${i}" for i, c in enumerate(_INSERT_COLUMNS, start=1))
    + ") ON CONFLICT (dedup_key) DO NOTHING RETURNING id"
)
_STORED_COLUMNS = ("id, dedup_key, source, symbol, action, size, quote_amount, price, timenow, strategy, received_at,"
                   " attempts, source_ip")
_CLAIM = (f"SELECT {_STORED_COLUMNS} FROM alerts WHERE status = $1 ORDER BY received_at, id LIMIT 1"
          " FOR UPDATE SKIP LOCKED")
# The insert returning what a claim reads: the row of an open transaction is seen by no other until commit.
_INSERT_CLAIMED = _INSERT.removesuffix("RETURNING id") + f"RETURNING {_STORED_COLUMNS}"
_OUTCOME = (
    "UPDATE alerts SET status = $2, status_reason = $3, reason_code = $4, client_order_id = $5, order_id = $6,"
    " processed_at = $7, attempts = COALESCE($8::integer, attempts) WHERE id = $1"
)


async def insert_alert(session: AsyncSession, record: AlertRecord) -> int | None:
    """Insert under the record's dedup key; the new id, or None when the key already exists."""
    driver = await direct.session_driver(session)
    if driver is not None:
        # Autocommit or an open transaction: the same statement through the driver costs a third of
        # the ORM path, and commits (or not) exactly as the session's own statement would.
        return cast(int | None, await driver.fetchval(_INSERT, *_insert_args(record)))
    # SQLAlchemy would store None in a JSONB column as JSON null: SQL NULL here too, as everywhere else.
    values = {c: null() if c in _JSON_COLUMNS and v is None else v for c, v in record.values().items()}
    stmt = (
        pg_insert(AlertRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[AlertRow.dedup_key])
        .returning(AlertRow.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def _insert_args(record: AlertRecord) -> list[Any]:
    values = record.values()
    # A JSON column without a value is SQL NULL, as the endpoint's inbox stores it.
    return [json.dumps(values[c]) if c in _JSON_COLUMNS and values[c] is not None else values[c]
            for c in _INSERT_COLUMNS]


async def insert_claimed(driver: asyncpg.Connection, record: AlertRecord) -> StoredAlert | None:
    """Insert under the record's dedup key in the driver's open transaction and return it as `claim_next`
    would (None when the key already exists). Until that transaction ends no other sees the row, so
    it is as much this transaction's as a claimed row."""
    row = await driver.fetchrow(_INSERT_CLAIMED, *_insert_args(record))
    return None if row is None else _stored(row)


async def claim_next(driver: asyncpg.Connection) -> StoredAlert | None:
    """The oldest accepted alert, row-locked for the driver's open transaction; others skip it. Its
    `attempts` include this one (the caller stores that count with the outcome)."""
    row = await driver.fetchrow(_CLAIM, AlertStatus.ACCEPTED.value)
    return None if row is None else _stored(row)


def _stored(row: asyncpg.Record) -> StoredAlert:
    return StoredAlert(
        id=row["id"], dedup_key=row["dedup_key"], source=row["source"], symbol=row["symbol"] or "",
        action=row["action"] or "", quantity=row["size"], notional=row["quote_amount"], price=row["price"],
        timenow=row["timenow"], strategy=row["strategy"], received_at=row["received_at"],
        attempts=row["attempts"] + 1, source_ip=row["source_ip"],
    )


async def record_outcome(driver: asyncpg.Connection, alert_id: int, outcome: AlertOutcome, now: datetime,
                         attempts: int | None = None) -> None:
    """The outcome (and, given, the attempt count) in one UPDATE, in the driver's open transaction."""
    await driver.execute(
        _OUTCOME, alert_id, outcome.status.value, outcome.reason[:_REASON_MAX] if outcome.reason else None,
        outcome.code, outcome.client_order_id, outcome.order_id, now, attempts)


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
