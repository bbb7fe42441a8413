"""Turns a stored alert (TradingView or sighook) into an order intent, after the entry risk checks.

Entries (buy) pass the risk manager; exits (sell/close) are always allowed. The intent key is the
alert's dedup key, so a replayed alert can never place a second order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Protocol

from core.enums import AlertStatus, ExitReason, OrderSource, Side
from core.logging import get_logger
from core.money import ZERO
from core.settings import Settings
from market_data.ports import Notifier
from webhook.alerts.contract import AlertOutcome, StoredAlert
from webhook.order_intent import IntentKind, OrderIntent
from webhook.order_manager import OrderManager, PlaceResult
from webhook.working_orders.desk import RISK_REFUSALS

log = get_logger(__name__)


class EntryGate(Protocol):
    """The risk manager's entry check (exits never go through it)."""

    async def check_entry(self, symbol: str, notional: Decimal, account_value: Decimal,
                          quote_age_s: float | None) -> Any: ...


class EntryPlacer(Protocol):
    """How an entry is placed (issue #19: the working-order desk works it on the book)."""

    async def start_entry(self, intent: OrderIntent) -> PlaceResult: ...


class AlertOrderExecutor:
    def __init__(self, orders: OrderManager, risk: EntryGate, settings: Settings,
                 account_value: Callable[[], Awaitable[Decimal]], position_size: Callable[[str], Decimal],
                 quote_age_s: Callable[[str], float | None], notifier: Notifier | None = None,
                 entries: EntryPlacer | None = None) -> None:
        self._orders = orders
        self._entries = entries
        self._notifier = notifier
        self._risk = risk
        self._settings = settings
        self._account_value = account_value
        self._position_size = position_size
        self._quote_age_s = quote_age_s

    async def execute(self, alert: StoredAlert) -> AlertOutcome:
        source = OrderSource.SIGHOOK if alert.source == "sighook" else OrderSource.TRADINGVIEW
        trigger = {"alert_id": alert.id, "dedup_key": alert.dedup_key, "source": alert.source,
                   "action": alert.action, "strategy": alert.strategy, "price": _s(alert.price)}
        key = f"alert:{alert.dedup_key}"
        if alert.action == "buy":
            notional = alert.notional or (alert.quantity * alert.price if alert.quantity and alert.price else None)
            notional = notional or self._settings.entry_quote_size_usd
            verdict = await self._risk.check_entry(alert.symbol, notional, await self._account_value(),
                                                   self._quote_age_s(alert.symbol))
            if not getattr(verdict, "allowed", False):
                reason = "; ".join(getattr(verdict, "reasons", ())) or "risk check refused"
                log.info("alert_entry_refused", alert_id=alert.id, symbol=alert.symbol, reason=reason)
                return AlertOutcome(AlertStatus.REJECTED_RISK, reason=reason)
            if alert.quantity is not None:
                intent = OrderIntent(alert.symbol, Side.BUY, IntentKind.MARKET, source, key,
                                     base_size=alert.quantity, trigger=trigger)
            else:
                intent = OrderIntent(alert.symbol, Side.BUY, IntentKind.MARKET, source, key, quote_size=notional,
                                     trigger=trigger)
        else:
            held = self._position_size(alert.symbol)
            size = alert.quantity if (alert.action == "sell" and alert.quantity) else held
            if size is None or size <= ZERO:
                return AlertOutcome(AlertStatus.FAILED, reason=f"no {alert.symbol} position to {alert.action}")
            intent = OrderIntent(alert.symbol, Side.SELL, IntentKind.MARKET, source, key, base_size=size,
                                 exit_reason=ExitReason.ALERT, exit_quote_price=alert.price, trigger=trigger)
        if intent.side is Side.BUY and self._entries is not None:
            result = await self._entries.start_entry(intent)
            if not result.ok and result.error in RISK_REFUSALS:
                log.info("alert_entry_refused", alert_id=alert.id, symbol=alert.symbol, reason=result.detail)
                return AlertOutcome(AlertStatus.REJECTED_RISK, reason=f"{result.error}: {result.detail or ''}"[:500])
        else:
            result = await self._orders.place(intent)
        if result.ok:
            return AlertOutcome(AlertStatus.ORDERED, client_order_id=result.client_order_id, order_id=result.order_id,
                                reason="duplicate intent: already placed" if result.duplicate else None)
        reason = f"{result.error}: {result.detail or ''}"[:500]
        if self._notifier is not None:
            await self._notifier.notify("order_failed", f"{alert.action} {alert.symbol} ({alert.source} alert "
                                        f"{alert.id}) was not ordered: {reason}")
        return AlertOutcome(AlertStatus.FAILED, reason=reason, client_order_id=result.client_order_id)


def _s(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")
