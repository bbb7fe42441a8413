"""Order specifications parsed from `order_configuration`, and the engine's order and fill records."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.clock import parse_rfc3339
from core.money import to_decimal

ZERO = Decimal(0)

# order_configuration key → (REST order_type, time_in_force)
CONFIG_KINDS: dict[str, tuple[str, str]] = {
    "market_market_ioc": ("MARKET", "IMMEDIATE_OR_CANCEL"),
    "sor_limit_ioc": ("LIMIT", "IMMEDIATE_OR_CANCEL"),
    "limit_limit_gtc": ("LIMIT", "GOOD_UNTIL_CANCELLED"),
    "limit_limit_gtd": ("LIMIT", "GOOD_UNTIL_DATE_TIME"),
    "limit_limit_fok": ("LIMIT", "FILL_OR_KILL"),
    "stop_limit_stop_limit_gtc": ("STOP_LIMIT", "GOOD_UNTIL_CANCELLED"),
    "stop_limit_stop_limit_gtd": ("STOP_LIMIT", "GOOD_UNTIL_DATE_TIME"),
    "trigger_bracket_gtc": ("BRACKET", "GOOD_UNTIL_CANCELLED"),
    "trigger_bracket_gtd": ("BRACKET", "GOOD_UNTIL_DATE_TIME"),
}
STOP_DIRECTIONS = ("STOP_DIRECTION_STOP_UP", "STOP_DIRECTION_STOP_DOWN")
TERMINAL = frozenset({"FILLED", "CANCELLED", "EXPIRED", "FAILED"})


@dataclass(frozen=True, slots=True)
class Rejection:
    """A business rejection of create (HTTP 200, success:false)."""

    error: str  # error_response.error and new_order_failure_reason
    preview_failure_reason: str
    message: str
    error_details: str = ""


INVALID_CONFIG = Rejection("UNSUPPORTED_ORDER_CONFIGURATION", "UNKNOWN_PREVIEW_FAILURE_REASON",
                           "The order configuration was invalid")
EMPTY_MARKET_SIZE = Rejection("INVALID_REQUEST", "UNKNOWN_PREVIEW_FAILURE_REASON",
                              "Market orders cannot be placed with empty order sizes")


@dataclass(frozen=True, slots=True)
class OrderSpec:
    config_key: str
    raw: dict[str, Any]  # the variant's fields as sent, echoed back in responses
    base_size: Decimal | None = None
    quote_size: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None  # stop-limit stop, or bracket stop trigger
    stop_direction: str | None = None
    end_time: datetime | None = None
    post_only: bool = False

    @property
    def order_type(self) -> str:
        return CONFIG_KINDS[self.config_key][0]

    @property
    def time_in_force(self) -> str:
        return CONFIG_KINDS[self.config_key][1]

    @property
    def is_market(self) -> bool:
        return self.order_type == "MARKET"

    @property
    def rests(self) -> bool:
        """Orders that can sit on the book (GTC/GTD limit, stop-limit, bracket)."""
        return self.time_in_force in ("GOOD_UNTIL_CANCELLED", "GOOD_UNTIL_DATE_TIME")


def _dec(fields: dict[str, Any], name: str) -> Decimal | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, float):  # JSON numbers arrive as float: go through their text
        value = repr(value)
    result = to_decimal(value)
    if not result.is_finite() or result <= 0:
        raise ValueError(f"{name} must be a positive number")
    return result


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value is None:
        return False
    raise ValueError("post_only must be a boolean")


def parse_order_configuration(config: Any) -> OrderSpec | Rejection:
    """Exactly one known variant with its required fields, or a Rejection."""
    if not isinstance(config, dict) or len(config) != 1:
        return INVALID_CONFIG
    key, fields = next(iter(config.items()))
    if key not in CONFIG_KINDS or not isinstance(fields, dict):
        return INVALID_CONFIG
    try:
        base, quote = _dec(fields, "base_size"), _dec(fields, "quote_size")
        limit = _dec(fields, "limit_price")
        stop = _dec(fields, "stop_price") if key.startswith("stop_limit") else _dec(fields, "stop_trigger_price")
        end_raw = fields.get("end_time")
        end_time = parse_rfc3339(end_raw) if isinstance(end_raw, str) and end_raw else None
        post_only = _bool(fields.get("post_only", False))
    except (ValueError, TypeError, InvalidOperation):
        return INVALID_CONFIG
    spec = OrderSpec(key, copy.deepcopy(fields), base, quote, limit, stop, fields.get("stop_direction"),
                     end_time, post_only)
    return _check_required(spec)


def _check_required(spec: OrderSpec) -> OrderSpec | Rejection:
    kind = spec.order_type
    if kind == "MARKET":
        if spec.base_size is None and spec.quote_size is None:
            return EMPTY_MARKET_SIZE
        if spec.base_size is not None and spec.quote_size is not None:
            return INVALID_CONFIG
        return spec
    if spec.base_size is None or spec.limit_price is None or spec.quote_size is not None:
        return INVALID_CONFIG
    if spec.time_in_force == "GOOD_UNTIL_DATE_TIME" and spec.end_time is None:
        return INVALID_CONFIG
    if kind == "STOP_LIMIT" and (spec.stop_price is None or spec.stop_direction not in STOP_DIRECTIONS):
        return INVALID_CONFIG
    if kind == "BRACKET" and spec.stop_price is None:
        return INVALID_CONFIG
    return spec


@dataclass(frozen=True, slots=True)
class EditRecord:
    """One accepted edit (GET order `edit_history` item)."""

    price: Decimal
    size: Decimal
    replace_accept_timestamp: datetime
    stop_price: Decimal | None = None


@dataclass(slots=True)
class SimOrder:
    order_id: str
    client_order_id: str
    product_id: str
    side: str  # BUY / SELL
    spec: OrderSpec
    created_time: datetime
    status: str = "PENDING"
    filled_size: Decimal = ZERO
    filled_value: Decimal = ZERO
    total_fees: Decimal = ZERO
    number_of_fills: int = 0
    last_fill_time: datetime | None = None
    hold_currency: str = ""
    hold_remaining: Decimal = ZERO
    per_base_hold: Decimal | None = None  # hold kept per unfilled base unit (limit-priced buys)
    working_price: Decimal | None = None  # the limit currently worked (changes when a bracket stop fires)
    trigger_status: str = "INVALID_ORDER_TYPE"
    pending_cancel: bool = False
    cancel_due: datetime | None = None
    pending_until: datetime | None = None
    cancel_message: str = ""
    reject_reason: str = "REJECT_REASON_UNSPECIFIED"
    reject_message: str = ""
    attached: dict[str, Any] | None = field(default=None)
    version: int = 0  # bumps on every change (dedupe key for user-channel replays)
    edit_history: tuple[EditRecord, ...] = ()  # appended by simulator.engine.edits
    # Resting size ahead of this order at its price when it joined (time priority); trades printed
    # at that price consume it before this order can fill at its level. None: not a resting limit.
    queue_ahead: Decimal | None = None

    @property
    def is_buy(self) -> bool:
        return self.side == "BUY"

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def size_in_quote(self) -> bool:
        return self.spec.quote_size is not None

    @property
    def leaves(self) -> Decimal:
        """Unfilled base size (0 for terminal orders and for quote-sized market orders once done)."""
        if self.terminal:
            return ZERO
        if self.spec.base_size is not None:
            return self.spec.base_size - self.filled_size
        return ZERO

    @property
    def average_price(self) -> Decimal:
        return self.filled_value / self.filled_size if self.filled_size > 0 else ZERO

    def completion_percentage(self) -> Decimal:
        if self.spec.quote_size is not None:
            spent = self.filled_value + (self.total_fees if self.is_buy else ZERO)
            return min(Decimal(100), spent / self.spec.quote_size * 100) if self.status != "FILLED" else Decimal(100)
        total = self.spec.base_size or ZERO
        return self.filled_size / total * 100 if total > 0 else ZERO

    def snapshot(self) -> SimOrder:
        return copy.copy(self)


@dataclass(frozen=True, slots=True)
class SimFill:
    entry_id: str
    trade_id: str
    order_id: str
    product_id: str
    side: str
    price: Decimal
    size: Decimal
    commission: Decimal
    liquidity_indicator: str  # MAKER / TAKER
    trade_time: datetime
    size_in_quote: bool = False
    trade_type: str = "FILL"  # FILL / REVERSAL / CORRECTION / SYNTHETIC


@dataclass(frozen=True, slots=True)
class MarketTrade:
    trade_id: str
    product_id: str
    price: Decimal
    size: Decimal
    side: str  # maker side
    time: datetime
