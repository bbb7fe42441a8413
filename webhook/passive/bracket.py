"""The pure part of a passive fill's exchange-side exit: bracket prices, which leg filled, re-arming.

A filled passive buy is protected by a Coinbase `trigger_bracket_gtc` sell: a take-profit limit
above the fill and a stop trigger below it (on trigger, Coinbase works a stop-limit 5 % under the
trigger). Whichever leg fills, the other is gone: the exchange-side OCO of the original.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from core.enums import ExitReason
from core.money import quantize_to

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class BracketPrices:
    take_profit: Decimal
    stop_trigger: Decimal


def bracket_prices(fill_price: Decimal, take_profit_pct: Decimal, stop_pct: Decimal,
                   tick: Decimal) -> BracketPrices:
    """Take-profit rounded up and stop rounded down to the tick: never tighter than configured."""
    if fill_price <= 0 or take_profit_pct <= 0 or stop_pct <= 0:
        raise ValueError(f"bracket needs positive fill price and distances, got {fill_price}, "
                         f"{take_profit_pct}, {stop_pct}")
    tp = quantize_to(fill_price * (1 + take_profit_pct / HUNDRED), tick, ROUND_CEILING)
    stop = quantize_to(fill_price * (1 - stop_pct / HUNDRED), tick, ROUND_FLOOR)
    return BracketPrices(tp, stop)


def bracket_exit_reason(average_price: Decimal, prices: BracketPrices) -> ExitReason:
    """Which leg filled, from the price it filled at: the take-profit limit fills at or above its
    price; the stop leg fills at or below its trigger. The nearer of the two names the exit."""
    midpoint = (prices.take_profit + prices.stop_trigger) / 2
    return ExitReason.BRACKET_TAKE_PROFIT if average_price >= midpoint else ExitReason.BRACKET_STOP


# When the stop triggers, Coinbase works a stop-limit this far under the trigger (reference §3.7).
STOP_LIMIT_SLIPPAGE = Decimal("0.05")


def stop_overrun(bid: Decimal, prices: BracketPrices, slippage: Decimal = STOP_LIMIT_SLIPPAGE) -> bool:
    """The market gapped under the stop-limit's limit: the bracket's stop leg can no longer fill, so
    the position is unprotected until someone sells it at market."""
    return bid < prices.stop_trigger * (1 - slippage)


@dataclass(frozen=True, slots=True)
class Rearm:
    attempt: int  # the failure count that led to it


@dataclass(frozen=True, slots=True)
class HandOver:
    failures: int


def after_failure(failures: int, max_attempts: int) -> Rearm | HandOver:
    """A bracket was cancelled behind our back or could not be placed (`failures` counts this one):
    re-arm it, or after the `max_attempts`-th failure hand the position to the sentinel."""
    if failures >= max_attempts:
        return HandOver(failures)
    return Rearm(failures)
