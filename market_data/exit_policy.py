"""Which exit, if any, a position should take now: a pure function with a fixed priority.

Priority (DESIGN §4): stop loss (hard stop → market IOC; soft stop → limit) > take profit >
signal exit (only at P&L ≥ 0 and with a fresh signal) > trailing stop. The first true condition
wins; the decision says why, at what target, and which quote it saw, so the database can later
answer "which exit fired, and how far from its target did it fill?".

`quote` is the price we could sell at now (best bid, else last trade). Percent thresholds are in
percent units, as in settings (−5 means −5 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from core.enums import ExitReason
from core.money import fmt, pct_change
from core.settings import TradingSettings
from market_data.ports import OpenPosition, SignalView
from market_data.trailing_stop import HUNDRED, TrailingStop

BREAKEVEN_PNL_PCT = Decimal(0)  # a signal exit never sells at a loss
SIGNAL_FUTURE_SKEW_S = 5.0  # a matrix stamped slightly ahead of our clock (sighook host skew) is still fresh


class ExitOrderKind(StrEnum):
    MARKET = "market"  # market IOC: certain exit, uncertain price (hard stop only)
    LIMIT = "limit"  # limit at the quote seen: marketable, but never below it


@dataclass(frozen=True, slots=True)
class ExitDecision:
    reason: ExitReason
    order_kind: ExitOrderKind
    target_price: Decimal  # the level the rule aimed at (stop / take-profit / trailing stop / quote)
    quote_price: Decimal  # the sellable price the sentinel saw
    limit_price: Decimal | None  # set for LIMIT orders
    pnl_pct: Decimal  # unrealized P&L at the quote, percent
    why: str

    @property
    def is_market(self) -> bool:
        return self.order_kind is ExitOrderKind.MARKET


def level(entry_price: Decimal, pct: Decimal) -> Decimal:
    """The price `pct` percent away from the entry."""
    return entry_price * (HUNDRED + pct) / HUNDRED


def signal_is_fresh(signal: SignalView, now: datetime, max_age_s: float) -> bool:
    return -SIGNAL_FUTURE_SKEW_S <= (now - signal.as_of).total_seconds() <= max_age_s


def decide_exit(position: OpenPosition, quote: Decimal, signal: SignalView | None, trailing: TrailingStop | None,
                settings: TradingSettings, *, now: datetime) -> ExitDecision | None:
    """The exit `position` should take at `quote`, or None (`settings` may be the full Settings)."""
    entry = position.avg_entry_price
    if entry <= 0 or quote <= 0:
        raise ValueError(f"{position.symbol}: entry and quote must be positive, got entry={entry} quote={quote}")
    pnl = pct_change(quote, entry)

    def decision(reason: ExitReason, kind: ExitOrderKind, target: Decimal, why: str) -> ExitDecision:
        limit = quote if kind is ExitOrderKind.LIMIT else None
        return ExitDecision(reason=reason, order_kind=kind, target_price=target, quote_price=quote,
                            limit_price=limit, pnl_pct=pnl, why=why)

    if pnl <= settings.stop_loss_hard_pct:
        return decision(ExitReason.HARD_STOP, ExitOrderKind.MARKET, level(entry, settings.stop_loss_hard_pct),
                        f"P&L {_pct(pnl)} ≤ hard stop {_pct(settings.stop_loss_hard_pct)}")
    if pnl <= settings.stop_loss_soft_pct:
        return decision(ExitReason.SOFT_STOP, ExitOrderKind.LIMIT, level(entry, settings.stop_loss_soft_pct),
                        f"P&L {_pct(pnl)} ≤ soft stop {_pct(settings.stop_loss_soft_pct)}")
    if pnl >= settings.take_profit_pct:
        return decision(ExitReason.TAKE_PROFIT, ExitOrderKind.LIMIT, level(entry, settings.take_profit_pct),
                        f"P&L {_pct(pnl)} ≥ take profit {_pct(settings.take_profit_pct)}")
    if (signal is not None and signal.sell and pnl >= BREAKEVEN_PNL_PCT
            and signal_is_fresh(signal, now, settings.matrix_max_age_s)):
        return decision(ExitReason.SIGNAL, ExitOrderKind.LIMIT, quote,
                        f"sell signal as of {signal.as_of.isoformat()} at P&L {_pct(pnl)}")
    if trailing is not None and trailing.is_hit(quote) and trailing.current_stop is not None:
        return decision(ExitReason.TRAILING_STOP, ExitOrderKind.LIMIT, trailing.current_stop,
                        f"quote {fmt(quote)} ≤ trailing stop {fmt(trailing.current_stop)} "
                        f"(high {fmt(trailing.highest_price)})")
    return None


def _pct(value: Decimal) -> str:
    return f"{value:.2f}%"
