"""The contract between the alert worker and whatever turns an alert into an order (the order manager)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from core.enums import AlertStatus

# Outcomes an executor may report; anything else is recorded as FAILED.
EXECUTOR_STATUSES = frozenset({AlertStatus.ORDERED, AlertStatus.REJECTED_RISK, AlertStatus.FAILED})


@dataclass(frozen=True)
class StoredAlert:
    """An accepted alert as stored in `alerts`. `dedup_key` is stable across resends and restarts:
    derive the order's client_order_id from it so a re-run after a crash cannot double the order."""

    id: int
    dedup_key: str
    source: str  # tradingview | sighook
    symbol: str  # Coinbase product id, e.g. BTC-USD
    action: str  # buy | sell | close
    quantity: Decimal | None  # base size
    notional: Decimal | None  # quote (USD) amount
    price: Decimal | None
    timenow: datetime | None
    strategy: dict[str, Any] | None
    received_at: datetime
    attempts: int  # including this one
    source_ip: str | None = None


@dataclass(frozen=True)
class AlertOutcome:
    status: AlertStatus  # ORDERED, REJECTED_RISK or FAILED
    reason: str | None = None
    client_order_id: str | None = None
    order_id: str | None = None
    code: str | None = None  # webhook/alerts/reasons.py Reason, for refusals and failures


class AlertExecutor(Protocol):
    async def execute(self, alert: StoredAlert) -> AlertOutcome: ...
