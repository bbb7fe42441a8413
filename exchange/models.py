"""Our own exchange value types (frozen, Decimal): what the port returns, never SDK objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from core.enums import OrderStatus, Side

# Coinbase's candle granularity enum → bucket length in seconds.
GRANULARITY_SECONDS: dict[str, int] = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}


def granularity_seconds(granularity: str) -> int:
    try:
        return GRANULARITY_SECONDS[granularity]
    except KeyError:
        raise ValueError(f"unknown candle granularity {granularity!r}; one of {sorted(GRANULARITY_SECONDS)}") from None


class OrderKind(StrEnum):
    MARKET = "market"  # market_market_ioc (buy by quote_size or base_size, sell by base_size)
    LIMIT_GTC = "limit_gtc"  # limit_limit_gtc, optionally post_only
    LIMIT_GTD = "limit_gtd"
    LIMIT_IOC = "limit_ioc"  # sor_limit_ioc
    STOP_LIMIT_GTC = "stop_limit_gtc"
    BRACKET_GTC = "bracket_gtc"  # trigger_bracket_gtc


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    base_currency: str
    quote_currency: str
    price: Decimal | None
    base_increment: Decimal
    quote_increment: Decimal
    price_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal
    quote_min_size: Decimal
    quote_max_size: Decimal
    volume_24h: Decimal
    price_change_24h_pct: Decimal
    status: str  # online / offline / delisted
    trading_disabled: bool = False
    cancel_only: bool = False
    limit_only: bool = False
    post_only: bool = False
    is_disabled: bool = False

    @property
    def tradable(self) -> bool:
        return self.status == "online" and not (self.trading_disabled or self.cancel_only or self.is_disabled)

    @property
    def quote_volume_24h(self) -> Decimal:
        return self.volume_24h * (self.price or Decimal(0))


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    available: Decimal  # excludes hold
    hold: Decimal
    account_uuid: str = ""

    @property
    def total(self) -> Decimal:
        return self.available + self.hold


@dataclass(frozen=True, slots=True)
class Quote:
    product_id: str
    bid: Decimal
    ask: Decimal
    time: datetime
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class Candle:
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class OrderRequest:
    client_order_id: str
    product_id: str
    side: Side
    kind: OrderKind
    base_size: Decimal | None = None
    quote_size: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    stop_direction: str | None = None  # STOP_DIRECTION_STOP_UP / STOP_DIRECTION_STOP_DOWN
    post_only: bool = False
    end_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class OrderResult:
    """Outcome of create_order. success=False is a business rejection (HTTP 200, success:false)."""

    success: bool
    client_order_id: str
    order_id: str | None = None
    error: str | None = None  # error_response.error
    failure_reason: str | None = None  # new_order_failure_reason or preview_failure_reason
    message: str | None = None

    @property
    def is_post_only_rejection(self) -> bool:
        text = " ".join(x or "" for x in (self.error, self.failure_reason, self.message)).upper()
        return "POST_ONLY" in text or "INVALID_LIMIT_PRICE_POST_ONLY" in text


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    client_order_id: str
    product_id: str
    side: Side
    status: OrderStatus
    kind: OrderKind | None
    order_type: str  # MARKET / LIMIT / STOP_LIMIT / BRACKET …
    base_size: Decimal | None
    quote_size: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    filled_size: Decimal
    average_filled_price: Decimal | None
    filled_value: Decimal
    total_fees: Decimal
    number_of_fills: int
    created_time: datetime | None
    post_only: bool = False
    cancel_message: str | None = None
    reject_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: str
    order_id: str
    product_id: str
    side: Side
    price: Decimal
    size: Decimal
    commission: Decimal
    trade_time: datetime
    liquidity_indicator: str | None = None  # MAKER / TAKER
    trade_type: str = "FILL"  # FILL / REVERSAL / CORRECTION / SYNTHETIC
    sequence_timestamp: datetime | None = None
    entry_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelResult:
    order_id: str
    success: bool
    failure_reason: str | None = None  # e.g. ORDER_IS_FULLY_FILLED, UNKNOWN_CANCEL_ORDER


@dataclass(frozen=True, slots=True)
class FeeTier:
    maker_rate: Decimal
    taker_rate: Decimal
    tier_name: str = ""


@dataclass(frozen=True, slots=True)
class KeyPermissions:
    can_view: bool
    can_trade: bool
    can_transfer: bool
    portfolio_uuid: str = ""


@dataclass(frozen=True, slots=True)
class Page[T]:
    items: list[T] = field(default_factory=list)
    cursor: str | None = None
    has_next: bool = False


# ---- edits and previews (issue #21) ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class EditRequest:
    """An in-place edit of a resting GTC limit / stop-limit / bracket order.

    Coinbase needs both `size` and `price` on every edit (a missing size reads as 0); `stop_price`
    moves a stop-limit's trigger (a bracket's stop_trigger_price) in the same call. The order keeps
    its id and never leaves the book.
    """

    order_id: str
    size: Decimal
    price: Decimal
    stop_price: Decimal | None = None
    is_bracket: bool = False  # send stop_trigger_price instead of stop_price


@dataclass(frozen=True, slots=True)
class EditResult:
    """success=False is a refusal by the exchange (the order is unchanged); `reason` says why."""

    success: bool
    order_id: str
    reason: str | None = None  # edit_failure_reason (or preview_failure_reason when that is the only one)
    preview_reason: str | None = None
    already_applied: bool = False  # a retry found the order already at the requested values


@dataclass(frozen=True, slots=True)
class PreviewResult:
    """POST /orders/preview: what the order would cost now. `errors` empty means it would be accepted."""

    errors: tuple[str, ...]
    order_total: Decimal
    commission_total: Decimal
    base_size: Decimal
    quote_size: Decimal
    best_bid: Decimal | None
    best_ask: Decimal | None
    slippage_pct: Decimal  # percent of the best price the average fill moves away from it
    preview_id: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors
