"""The one sizing function: an entry request + live quote + holdings → the exact order, or a refusal.

Pure (no I/O, no clock). Every entry path (TradingView JSON, plain text, sighook, anything later)
goes through `size_entry`; the executor sends exactly `SizedEntry.base_size` / `.quote_size`, which
are already on the product's increments, so the order manager's own rounding changes nothing.

What is checked, in order (the first failure is the refusal):
1. a fresh quote (best ask at most `max_quote_age_s` old) — never guessed from the alert's price;
2. the alert's own price, when given, within `max_price_deviation_pct` of the best ask;
3. the size: the alert's base size (rounded down to `base_increment`) or USD amount (rounded down to
   `quote_increment`), else the source's default USD amount; within the product's min/max;
4. `cost_usd` ≤ MAX_ORDER_NOTIONAL_USD, where cost is what leaves the account, fees included the way
   Coinbase charges them: a quote-sized buy spends exactly `quote_size` (the fee is taken out
   of it: filled value = quote_size / (1 + fee rate)); a base-sized buy spends
   base × price × (1 + fee rate). The fee rate is the taker's, or `fill_fee_rate` when every fill
   is known to pay less (a post-only entry: maker) — the fee the order is actually sized with;
5. the position after the order — held base × ask + open buy orders + this order's value — at most
   MAX_POSITION_PCT % of account value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from core.money import ZERO, fmt, quantize_down
from exchange.models import Product
from webhook.alerts.reasons import Reason, Refusal

HUNDRED = Decimal(100)
SizeBasis = Literal["alert_base", "alert_quote", "default"]


@dataclass(frozen=True, slots=True)
class EntryRequest:
    symbol: str
    source: str  # tradingview | sighook
    base_size: Decimal | None = None  # as the alert stated it
    quote_size: Decimal | None = None  # USD, fees included
    alert_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class LiveQuote:
    best_ask: Decimal | None
    age_s: float | None  # None: no quote at all


@dataclass(frozen=True, slots=True)
class ProductRules:
    base_increment: Decimal
    quote_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal
    quote_min_size: Decimal
    quote_max_size: Decimal

    @classmethod
    def of(cls, product: Product) -> ProductRules:
        return cls(product.base_increment, product.quote_increment, product.base_min_size, product.base_max_size,
                   product.quote_min_size, product.quote_max_size)


@dataclass(frozen=True, slots=True)
class Exposure:
    held_base: Decimal  # what the account holds of the base asset now
    open_buy_usd: Decimal  # value of open (unfilled) buy orders on the symbol
    account_value_usd: Decimal


@dataclass(frozen=True, slots=True)
class SizingLimits:
    max_order_notional_usd: Decimal
    max_position_pct: Decimal
    max_quote_age_s: float
    max_price_deviation_pct: Decimal
    taker_fee_rate: Decimal
    default_quote_usd: Mapping[str, Decimal]  # per source; "*" is the fallback
    # The fee every fill of the order pays when that is known to be lower than the taker's: a
    # post-only entry (each of its children is post-only, never escalated) pays the maker fee, and
    # the desk sizes it at that fee — so a USD budget buys more than at the taker fee, and the
    # position cap must be checked on that. None: the taker fee.
    fill_fee_rate: Decimal | None = None

    @classmethod
    def from_settings(cls, settings: Any, taker_fee_rate: Decimal,
                      fill_fee_rate: Decimal | None = None) -> SizingLimits:
        base = settings.entry_quote_size_usd
        return cls(
            max_order_notional_usd=settings.max_order_notional_usd, max_position_pct=settings.max_position_pct,
            max_quote_age_s=settings.entry_data_max_age_s,
            max_price_deviation_pct=settings.alert_max_price_deviation_pct, taker_fee_rate=taker_fee_rate,
            fill_fee_rate=fill_fee_rate,
            default_quote_usd={"*": base, "tradingview": settings.entry_quote_size_usd_tradingview or base,
                               "sighook": settings.entry_quote_size_usd_sighook or base},
        )

    def default_for(self, source: str) -> Decimal:
        return self.default_quote_usd.get(source) or self.default_quote_usd["*"]


@dataclass(frozen=True, slots=True)
class SizedEntry:
    """The order exactly as it will be sent, and the figures the limits were checked on."""

    symbol: str
    base_size: Decimal | None  # exactly one of base_size / quote_size
    quote_size: Decimal | None
    basis: SizeBasis
    reference_price: Decimal  # the best ask it was valued at
    order_value_usd: Decimal  # value of what is bought (fees excluded)
    cost_usd: Decimal  # what leaves the account, fees included: checked against MAX_ORDER_NOTIONAL_USD
    position_after_usd: Decimal  # checked against MAX_POSITION_PCT of account value
    position_limit_usd: Decimal

    def describe(self) -> dict[str, str]:
        return {"basis": self.basis, "reference_price": fmt(self.reference_price),
                "order_value_usd": fmt(self.order_value_usd), "cost_usd": fmt(self.cost_usd),
                "position_after_usd": fmt(self.position_after_usd),
                "position_limit_usd": fmt(self.position_limit_usd)}


def size_entry(request: EntryRequest, quote: LiveQuote, product: ProductRules, exposure: Exposure,
               limits: SizingLimits) -> SizedEntry | Refusal:
    symbol = request.symbol
    ask = quote.best_ask
    if ask is None or ask <= 0 or quote.age_s is None:
        return Refusal(Reason.NO_QUOTE, f"no live quote for {symbol}: an entry is never sized from a guess")
    if quote.age_s > limits.max_quote_age_s:
        return Refusal(Reason.NO_QUOTE, f"the {symbol} quote is {quote.age_s:.1f} s old "
                       f"(limit {limits.max_quote_age_s:g} s): an entry is never sized from a stale price")
    if request.alert_price is not None:
        deviation = abs(request.alert_price - ask) / ask * HUNDRED
        if deviation > limits.max_price_deviation_pct:
            return Refusal(Reason.PRICE_DEVIATION, f"the alert's price {fmt(request.alert_price)} is "
                           f"{deviation:.2f}% from the best ask {fmt(ask)} (limit "
                           f"{fmt(limits.max_price_deviation_pct)}%)", "price")
    fee = limits.taker_fee_rate if limits.fill_fee_rate is None else limits.fill_fee_rate
    base: Decimal | None = None
    quote_size: Decimal | None = None
    if request.base_size is not None:
        basis: SizeBasis = "alert_base"
        base = quantize_down(request.base_size, product.base_increment)
        if base <= 0 or base < product.base_min_size:
            return Refusal(Reason.SIZE_TOO_SMALL, f"{fmt(request.base_size)} {symbol} is below the product's "
                           f"minimum of {fmt(max(product.base_min_size, product.base_increment))}", "quantity")
        if base > product.base_max_size:
            return Refusal(Reason.BAD_SIZE, f"{fmt(base)} is above {symbol}'s maximum order size "
                           f"{fmt(product.base_max_size)}", "quantity")
        value = base * ask
        cost = value * (1 + fee)
    else:
        basis = "alert_quote" if request.quote_size is not None else "default"
        wanted = request.quote_size if request.quote_size is not None else limits.default_for(request.source)
        quote_size = quantize_down(wanted, product.quote_increment)
        if quote_size <= 0 or quote_size < product.quote_min_size:
            return Refusal(Reason.SIZE_TOO_SMALL, f"{fmt(wanted)} USD is below {symbol}'s minimum order of "
                           f"{fmt(product.quote_min_size)} USD", "notional")
        if quote_size > product.quote_max_size:
            return Refusal(Reason.BAD_SIZE, f"{fmt(quote_size)} USD is above {symbol}'s maximum order of "
                           f"{fmt(product.quote_max_size)} USD", "notional")
        cost = quote_size
        value = quote_size / (1 + fee)
        if value < product.quote_min_size:
            return Refusal(Reason.SIZE_TOO_SMALL, f"{fmt(wanted)} USD leaves {fmt(value)} USD after fees, below "
                           f"{symbol}'s minimum order of {fmt(product.quote_min_size)} USD", "notional")
    if basis == "alert_base" and value < product.quote_min_size:
        return Refusal(Reason.SIZE_TOO_SMALL, f"{fmt(base or ZERO)} {symbol} is worth {fmt(value)} USD, below the "
                       f"minimum order of {fmt(product.quote_min_size)} USD", "quantity")
    if cost > limits.max_order_notional_usd:
        return Refusal(Reason.OVER_ORDER_CAP, f"the order would cost {fmt(cost.quantize(Decimal('0.01')))} USD "
                       f"with fees, above MAX_ORDER_NOTIONAL_USD {fmt(limits.max_order_notional_usd)} USD")
    account = exposure.account_value_usd
    if account <= 0:
        return Refusal(Reason.NO_ACCOUNT_VALUE, f"account value is {fmt(account)} USD: no entry can be sized")
    limit = account * limits.max_position_pct / HUNDRED
    after = exposure.held_base * ask + exposure.open_buy_usd + value
    if after > limit:
        return Refusal(Reason.OVER_POSITION_CAP, f"the {symbol} position would be {_usd(after)} USD "
                       f"(held {_usd(exposure.held_base * ask)} + open buys {_usd(exposure.open_buy_usd)} + this "
                       f"order {_usd(value)}), above MAX_POSITION_PCT {fmt(limits.max_position_pct)}% of account "
                       f"value {_usd(account)} = {_usd(limit)} USD")
    return SizedEntry(symbol=symbol, base_size=base, quote_size=quote_size, basis=basis, reference_price=ask,
                      order_value_usd=value, cost_usd=cost, position_after_usd=after, position_limit_usd=limit)


def _usd(value: Decimal) -> str:
    return fmt(value.quantize(Decimal("0.01")))
