"""REST JSON shapes of engine objects (orders, fills, accounts, products, books, candles)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from core.clock import format_rfc3339
from core.money import fmt
from simulator.engine.accounts import Wallet
from simulator.engine.book import Level
from simulator.engine.candles import Bucket
from simulator.engine.market import Market
from simulator.engine.orders import CONFIG_KINDS, EditRecord, SimFill, SimOrder

FIAT = frozenset({"USD", "EUR", "GBP", "CAD", "SGD"})
ACCOUNT_CREATED = "2021-05-31T09:59:59Z"
_CURRENCY_NAMES = {"USD": "USD Wallet", "EUR": "EUR Wallet", "GBP": "GBP Wallet"}


def ts(dt: datetime | None) -> str | None:
    return format_rfc3339(dt) if dt is not None else None


def pct(value: Decimal) -> str:
    return fmt(value.quantize(Decimal("0.01")))


def order_configuration(order: SimOrder) -> dict[str, Any]:
    return {order.spec.config_key: dict(order.spec.raw)}


def echo_configuration(raw: Any) -> dict[str, Any] | None:
    """The request's order_configuration when the SDK can parse it back (objects only, never null)."""
    if not isinstance(raw, dict):
        return None
    if any(k in CONFIG_KINDS and not isinstance(v, dict) for k, v in raw.items()):
        return None
    return raw


def total_value_after_fees(order: SimOrder) -> Decimal:
    return order.filled_value + order.total_fees if order.is_buy else order.filled_value - order.total_fees


def order_json(order: SimOrder, user_id: str, portfolio_id: str) -> dict[str, Any]:
    spec = order.spec
    return {
        "order_id": order.order_id,
        "product_id": order.product_id,
        "user_id": user_id,
        "order_configuration": order_configuration(order),
        "side": order.side,
        "client_order_id": order.client_order_id,
        "status": order.status,
        "time_in_force": spec.time_in_force,
        "created_time": ts(order.created_time),
        "completion_percentage": pct(order.completion_percentage()),
        "filled_size": fmt(order.filled_size),
        "average_filled_price": fmt(order.average_price),
        "fee": "",
        "number_of_fills": str(order.number_of_fills),
        "filled_value": fmt(order.filled_value),
        "pending_cancel": order.pending_cancel,
        "size_in_quote": order.size_in_quote,
        "total_fees": fmt(order.total_fees),
        "size_inclusive_of_fees": order.size_in_quote and order.is_buy,
        "total_value_after_fees": fmt(total_value_after_fees(order)),
        "trigger_status": order.trigger_status,
        "order_type": spec.order_type,
        "reject_reason": order.reject_reason,
        "settled": order.terminal,
        "product_type": "SPOT",
        "reject_message": order.reject_message,
        "cancel_message": order.cancel_message,
        "order_placement_source": "RETAIL_ADVANCED",
        "outstanding_hold_amount": fmt(order.hold_remaining),
        "is_liquidation": False,
        "last_fill_time": ts(order.last_fill_time),
        "edit_history": [edit_json(e) for e in order.edit_history],
        "leverage": "",
        "margin_type": "UNKNOWN_MARGIN_TYPE",
        "retail_portfolio_id": portfolio_id,
        "originating_order_id": "",
        "attached_order_id": "",
        "attached_order_configuration": None,
    }


def edit_json(edit: EditRecord) -> dict[str, Any]:
    return {"price": fmt(edit.price), "size": fmt(edit.size),
            "replace_accept_timestamp": ts(edit.replace_accept_timestamp)}


def fill_json(fill: SimFill, user_id: str) -> dict[str, Any]:
    return {
        "entry_id": fill.entry_id,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "trade_time": ts(fill.trade_time),
        "trade_type": fill.trade_type,
        "price": fmt(fill.price),
        "size": fmt(fill.size),
        "commission": fmt(fill.commission),
        "product_id": fill.product_id,
        "sequence_timestamp": ts(fill.trade_time),
        "liquidity_indicator": fill.liquidity_indicator,
        "size_in_quote": fill.size_in_quote,
        "user_id": user_id,
        "side": fill.side,
        "retail_portfolio_id": "",
    }


def account_json(wallet: Wallet, portfolio_id: str, updated: datetime) -> dict[str, Any]:
    fiat = wallet.currency in FIAT
    return {
        "uuid": wallet.uuid,
        "name": _CURRENCY_NAMES.get(wallet.currency, f"{wallet.currency} Wallet"),
        "currency": wallet.currency,
        "available_balance": {"value": fmt(wallet.available), "currency": wallet.currency},
        "default": True,
        "active": True,
        "created_at": ACCOUNT_CREATED,
        "updated_at": ts(updated),
        "deleted_at": None,
        "type": "ACCOUNT_TYPE_FIAT" if fiat else "ACCOUNT_TYPE_CRYPTO",
        "ready": True,
        "hold": {"value": fmt(wallet.hold), "currency": wallet.currency},
        "retail_portfolio_id": portfolio_id,
        "platform": "ACCOUNT_PLATFORM_CONSUMER",
    }


def product_json(market: Market, now: datetime) -> dict[str, Any]:
    spec, flags = market.state.spec, market.state.flags
    stats = market.stats(now)
    return {
        "product_id": spec.product_id,
        "price": fmt(market.price),
        "price_percentage_change_24h": fmt(stats.price_change_pct),
        "volume_24h": fmt(stats.volume),
        "volume_percentage_change_24h": fmt(stats.volume_change_pct),
        "base_increment": fmt(spec.base_increment),
        "quote_increment": fmt(spec.quote_increment),
        "quote_min_size": fmt(spec.quote_min_size),
        "quote_max_size": fmt(spec.quote_max_size),
        "base_min_size": fmt(spec.base_min_size),
        "base_max_size": fmt(spec.base_max_size),
        "base_name": spec.base_name,
        "quote_name": spec.quote_name,
        "watched": False,
        "is_disabled": flags.is_disabled,
        "new": False,
        "status": flags.status,
        "cancel_only": flags.cancel_only,
        "limit_only": flags.limit_only,
        "post_only": flags.post_only,
        "trading_disabled": flags.trading_disabled,
        "auction_mode": flags.auction_mode,
        "product_type": "SPOT",
        "quote_currency_id": spec.quote_currency,
        "base_currency_id": spec.base_currency,
        "fcm_trading_session_details": None,
        "mid_market_price": "",
        "alias": "",
        "alias_to": [],
        "base_display_symbol": spec.base_currency,
        "quote_display_symbol": spec.quote_currency,
        "view_only": flags.view_only,
        "price_increment": fmt(spec.price_increment),
        "display_name": spec.product_id,
        "product_venue": "CBE",
        "approximate_quote_24h_volume": fmt((stats.volume * market.price).quantize(Decimal("0.01"))),
        "new_at": "2023-01-01T00:00:00Z",
        "market_cap": "",
    }


def level_json(level: Level) -> dict[str, str]:
    return {"price": fmt(level.price), "size": fmt(level.size)}


def pricebook_json(market: Market, depth: int | None, now: datetime) -> dict[str, Any]:
    bids, asks = market.book.top(depth)
    return {"product_id": market.product_id, "bids": [level_json(lv) for lv in bids],
            "asks": [level_json(lv) for lv in asks], "time": ts(now)}


def candle_json(bucket: Bucket) -> dict[str, str]:
    return {"start": str(bucket.start), "low": fmt(bucket.low), "high": fmt(bucket.high), "open": fmt(bucket.open),
            "close": fmt(bucket.close), "volume": fmt(bucket.volume)}
