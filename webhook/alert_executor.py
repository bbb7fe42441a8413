"""Turns a stored alert (TradingView, plain text or sighook) into an order intent.

Entries (buy) are sized by `webhook.alerts.sizing.size_entry` on live facts (quote, holdings, open
buys, account value), then pass the risk manager's breakers; the intent carries exactly the sized
order. Exits (sell/close) are always allowed. The intent key is the alert's dedup key, so a
replayed alert can never place a second order. Refusals carry a reason code (webhook/alerts/reasons.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from core.enums import AlertStatus, ExitReason, OrderSource, Side
from core.logging import get_logger
from core.money import ZERO
from core.settings import Settings
from market_data.ports import Notifier
from webhook.alerts.contract import AlertOutcome, StoredAlert
from webhook.alerts.entry_context import EntryFacts
from webhook.alerts.reasons import Reason, Refusal
from webhook.alerts.sizing import EntryRequest, SizedEntry, SizingLimits, size_entry
from webhook.order_intent import IntentKind, OrderIntent
from webhook.order_manager import OrderManager, PlaceResult
from webhook.working_orders.desk import RISK_REFUSALS
from webhook.working_orders.types import EntryOrderType

log = get_logger(__name__)


class EntryGate(Protocol):
    """The risk manager's entry check (breakers, position limit, stale-data guard); exits never go through it."""

    async def check_entry(self, symbol: str, notional: Decimal, account_value: Decimal,
                          quote_age_s: float | None, *, state_rows: Sequence[Sequence[Any]] | None = None) -> Any: ...


class EntryFactsSource(Protocol):
    async def gather(self, symbol: str) -> EntryFacts: ...


class EntryPlacer(Protocol):
    """How an entry is placed (issue #19: the working-order desk works it on the book)."""

    async def start_entry(self, intent: OrderIntent) -> PlaceResult: ...

    def entry_type_for(self, source: OrderSource) -> EntryOrderType: ...


class AlertOrderExecutor:
    def __init__(self, orders: OrderManager, risk: EntryGate, settings: Settings, entry_facts: EntryFactsSource,
                 position_size: Callable[[str], Decimal], notifier: Notifier | None = None,
                 entries: EntryPlacer | None = None) -> None:
        self._orders = orders
        self._entries = entries
        self._notifier = notifier
        self._risk = risk
        self._settings = settings
        self._facts = entry_facts
        self._position_size = position_size

    async def execute(self, alert: StoredAlert) -> AlertOutcome:
        source = OrderSource.SIGHOOK if alert.source == "sighook" else OrderSource.TRADINGVIEW
        trigger: dict[str, Any] = {"alert_id": alert.id, "dedup_key": alert.dedup_key, "source": alert.source,
                                   "action": alert.action, "strategy": alert.strategy, "price": _s(alert.price)}
        key = f"alert:{alert.dedup_key}"
        if alert.action == "buy":
            sized = await self._size_entry(alert)
            if isinstance(sized, Refusal):
                log.info("alert_entry_refused", alert_id=alert.id, symbol=alert.symbol, reason=sized.code.value,
                         detail=sized.message)
                # Refused on the live facts: a risk outcome, whatever the code (size, quote, cap, breaker).
                return AlertOutcome(AlertStatus.REJECTED_RISK, reason=sized.message, code=sized.code.value)
            trigger["sizing"] = sized.describe()
            # Exactly what was checked: sizes already on the product's increments.
            # limit_price: the ask the caps were checked at — a working (post-only/limit) entry never rests
            # above it, so re-pricing can never order more than was checked; a market order ignores it.
            intent = OrderIntent(alert.symbol, Side.BUY, IntentKind.MARKET, source, key, base_size=sized.base_size,
                                 quote_size=sized.quote_size, limit_price=sized.reference_price, trigger=trigger)
        else:
            held = self._position_size(alert.symbol)
            size = alert.quantity if (alert.action == "sell" and alert.quantity) else held
            if size is None or size <= ZERO:
                return AlertOutcome(AlertStatus.FAILED, reason=f"no {alert.symbol} position to {alert.action}",
                                    code=Reason.NO_POSITION.value)
            intent = OrderIntent(alert.symbol, Side.SELL, IntentKind.MARKET, source, key, base_size=size,
                                 exit_reason=ExitReason.ALERT, exit_quote_price=alert.price, trigger=trigger)
        if intent.side is Side.BUY and self._entries is not None:
            result = await self._entries.start_entry(intent)
            if not result.ok and result.error in RISK_REFUSALS:
                log.info("alert_entry_refused", alert_id=alert.id, symbol=alert.symbol, reason=result.detail)
                code = Reason.RED_DAY if result.error == "RED_DAY" else Reason.BREAKER_TRIPPED
                return AlertOutcome(AlertStatus.REJECTED_RISK, reason=f"{result.error}: {result.detail or ''}"[:500],
                                    code=code.value)
        else:
            result = await self._orders.place(intent)
        if result.ok:
            return AlertOutcome(AlertStatus.ORDERED, client_order_id=result.client_order_id, order_id=result.order_id,
                                reason="duplicate intent: already placed" if result.duplicate else None)
        reason = f"{result.error}: {result.detail or ''}"[:500]
        if self._notifier is not None:
            await self._notifier.notify("order_failed", f"{alert.action} {alert.symbol} ({alert.source} alert "
                                        f"{alert.id}) was not ordered: {reason}")
        return AlertOutcome(AlertStatus.FAILED, reason=reason, client_order_id=result.client_order_id,
                            code=Reason.ORDER_FAILED.value)

    async def _size_entry(self, alert: StoredAlert) -> SizedEntry | Refusal:
        """The one sizing function on live facts, then the risk manager's breakers on its figures."""
        try:
            facts = await self._facts.gather(alert.symbol)
        except Exception as exc:  # a failed read never guesses: the entry is refused
            log.warning("entry_facts_unavailable", symbol=alert.symbol, error=type(exc).__name__)
            return Refusal(Reason.NO_QUOTE, f"live market or account data for {alert.symbol} unavailable "
                           f"({type(exc).__name__}): an entry is never sized from a guess")
        request = EntryRequest(alert.symbol, alert.source, alert.quantity, alert.notional, alert.price)
        limits = SizingLimits.from_settings(self._settings, facts.taker_fee_rate, self._fill_fee_rate(alert, facts))
        sized = size_entry(request, facts.quote, facts.product, facts.exposure, limits)
        if isinstance(sized, Refusal):
            return sized
        # The breaker rows read with the facts (nothing but sizing since): the risk manager skips its own read.
        verdict = await self._risk.check_entry(alert.symbol, sized.position_after_usd,
                                               facts.exposure.account_value_usd, facts.quote.age_s,
                                               state_rows=facts.risk_rows)
        if not getattr(verdict, "allowed", False):
            text = "; ".join(getattr(verdict, "reasons", ())) or "risk check refused"
            # A gate in front of the risk manager names its own cause (degraded mode, unrecorded fills).
            named = getattr(verdict, "reason_code", None)
            code = Reason(named) if named else (
                Reason.BREAKER_TRIPPED if getattr(verdict, "breakers", ()) else Reason.OVER_POSITION_CAP)
            return Refusal(code, text)
        return sized


    def _fill_fee_rate(self, alert: StoredAlert, facts: EntryFacts) -> Decimal | None:
        """The maker fee when the entry will be worked post-only by the desk (which then sizes it at
        that fee); None (the taker fee) for anything that may take liquidity."""
        if self._entries is None or facts.maker_fee_rate is None:
            return None
        source = OrderSource.SIGHOOK if alert.source == "sighook" else OrderSource.TRADINGVIEW
        posts_only = self._entries.entry_type_for(source) is EntryOrderType.POST_ONLY
        return min(facts.maker_fee_rate, facts.taker_fee_rate) if posts_only else None


def _s(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")
