"""Pure translation between Coinbase REST JSON (the SDK's `to_dict()`) and our frozen dataclasses.

Nothing here does I/O; every function takes plain dicts so it can be unit-tested on captured shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.clock import format_rfc3339
from core.enums import OrderStatus, Side
from core.money import fmt
from exchange.coinbase.values import dec, opt_bool, opt_dec, opt_int, opt_str, opt_time
from exchange.models import (
    Balance,
    CancelResult,
    Candle,
    EditRequest,
    EditResult,
    FeeTier,
    Fill,
    KeyPermissions,
    Order,
    OrderKind,
    OrderRequest,
    OrderResult,
    PreviewResult,
    Product,
    Quote,
    granularity_seconds,
)

ZERO = Decimal(0)

CONFIG_KEY_TO_KIND: dict[str, OrderKind] = {
    "market_market_ioc": OrderKind.MARKET,
    "limit_limit_gtc": OrderKind.LIMIT_GTC,
    "limit_limit_gtd": OrderKind.LIMIT_GTD,
    "sor_limit_ioc": OrderKind.LIMIT_IOC,
    "stop_limit_stop_limit_gtc": OrderKind.STOP_LIMIT_GTC,
    "trigger_bracket_gtc": OrderKind.BRACKET_GTC,
}


# Reasons that mean "no reason" on a success (Coinbase sends them anyway).
_NO_REASON = frozenset({"", "UNKNOWN_FAILURE_REASON", "UNKNOWN_CANCEL_FAILURE_REASON", "REJECT_REASON_UNSPECIFIED"})


class AmbiguousCreateResponse(ValueError):
    """success:true without an order id: the order may exist, so the caller must retry (same client id)."""


def _reason(value: Any) -> str | None:
    text = opt_str(value)
    return None if text is None or text in _NO_REASON else text


def side_of(value: Any) -> Side:
    return Side(str(value).strip().upper())


def status_of(value: Any) -> OrderStatus:
    try:
        return OrderStatus(str(value).strip().upper())
    except ValueError:
        return OrderStatus.UNKNOWN_ORDER_STATUS


# ---- products, balances, quotes, candles -------------------------------------------------------

def product_from(d: Mapping[str, Any]) -> Product:
    product_id = str(d["product_id"])
    base, _, quote = product_id.partition("-")
    return Product(
        product_id=product_id,
        base_currency=str(d.get("base_currency_id") or d.get("base_display_symbol") or base),
        quote_currency=str(d.get("quote_currency_id") or d.get("quote_display_symbol") or quote),
        price=opt_dec(d.get("price")),
        base_increment=dec(d.get("base_increment")),
        quote_increment=dec(d.get("quote_increment")),
        price_increment=dec(d.get("price_increment"), opt_dec(d.get("quote_increment"))),
        base_min_size=dec(d.get("base_min_size"), ZERO),
        base_max_size=dec(d.get("base_max_size"), ZERO),
        quote_min_size=dec(d.get("quote_min_size"), ZERO),
        quote_max_size=dec(d.get("quote_max_size"), ZERO),
        volume_24h=dec(d.get("volume_24h"), ZERO),
        price_change_24h_pct=dec(d.get("price_percentage_change_24h"), ZERO),
        status=str(d.get("status") or ""),
        trading_disabled=bool(opt_bool(d.get("trading_disabled"))),
        cancel_only=bool(opt_bool(d.get("cancel_only"))),
        limit_only=bool(opt_bool(d.get("limit_only"))),
        post_only=bool(opt_bool(d.get("post_only"))),
        is_disabled=bool(opt_bool(d.get("is_disabled"))),
    )


def balances_from(accounts: Sequence[Mapping[str, Any]]) -> dict[str, Balance]:
    """Accounts → balance per currency (several accounts of one currency are summed)."""
    out: dict[str, Balance] = {}
    for acc in accounts:
        currency = str(acc.get("currency") or (acc.get("available_balance") or {}).get("currency") or "")
        if not currency:
            continue
        available = dec((acc.get("available_balance") or {}).get("value"), ZERO)
        hold = dec((acc.get("hold") or {}).get("value"), ZERO)
        prev = out.get(currency)
        if prev is not None:
            available += prev.available
            hold += prev.hold
        out[currency] = Balance(currency, available, hold,
                                prev.account_uuid if prev else str(acc.get("uuid") or ""))
    return out


def quote_from_pricebook(d: Mapping[str, Any], received_at: datetime) -> Quote | None:
    """Top of book; None when a side is empty (no usable quote)."""
    bids, asks = d.get("bids") or [], d.get("asks") or []
    if not bids or not asks:
        return None
    return Quote(
        product_id=str(d["product_id"]),
        bid=dec(bids[0].get("price")),
        ask=dec(asks[0].get("price")),
        time=opt_time(d.get("time")) or received_at,
        bid_size=opt_dec(bids[0].get("size")),
        ask_size=opt_dec(asks[0].get("size")),
    )


def candle_from(d: Mapping[str, Any]) -> Candle:
    start = opt_time(d.get("start"))
    if start is None:
        raise ValueError(f"candle without start: {d!r}")
    return Candle(start=start, open=dec(d.get("open")), high=dec(d.get("high")), low=dec(d.get("low")),
                  close=dec(d.get("close")), volume=dec(d.get("volume"), ZERO))


def candle_windows(start_s: int, end_s: int, granularity: str, max_candles: int = 300) -> list[tuple[int, int]]:
    """Split [start, end] into request windows of at most `max_candles` buckets (Coinbase: < 350)."""
    step = granularity_seconds(granularity)
    if end_s <= start_s:
        return []
    span = step * max_candles
    windows = []
    cursor = start_s
    while cursor < end_s:
        upper = min(end_s, cursor + span - 1)
        windows.append((cursor, upper))
        cursor = upper + 1
    return windows


# ---- orders ------------------------------------------------------------------------------------

def order_configuration_for(req: OrderRequest) -> dict[str, dict[str, Any]]:
    """The `order_configuration` object for a request; ValueError for an incomplete request."""

    def need(value: Decimal | None, name: str) -> str:
        if value is None or value <= 0:
            raise ValueError(f"{req.kind} order {req.client_order_id}: {name} must be a positive Decimal")
        return fmt(value)

    match req.kind:
        case OrderKind.MARKET:
            if (req.base_size is None) == (req.quote_size is None):
                raise ValueError(f"market order {req.client_order_id}: give exactly one of base_size, quote_size")
            if req.quote_size is not None:
                return {"market_market_ioc": {"quote_size": need(req.quote_size, "quote_size")}}
            return {"market_market_ioc": {"base_size": need(req.base_size, "base_size")}}
        case OrderKind.LIMIT_GTC:
            return {"limit_limit_gtc": {"base_size": need(req.base_size, "base_size"),
                                        "limit_price": need(req.limit_price, "limit_price"),
                                        "post_only": req.post_only}}
        case OrderKind.LIMIT_GTD:
            if req.end_time is None:
                raise ValueError(f"GTD order {req.client_order_id}: end_time is required")
            return {"limit_limit_gtd": {"base_size": need(req.base_size, "base_size"),
                                        "limit_price": need(req.limit_price, "limit_price"),
                                        "end_time": _rfc3339(req.end_time), "post_only": req.post_only}}
        case OrderKind.LIMIT_IOC:
            return {"sor_limit_ioc": {"base_size": need(req.base_size, "base_size"),
                                      "limit_price": need(req.limit_price, "limit_price")}}
        case OrderKind.STOP_LIMIT_GTC:
            direction = req.stop_direction or (
                "STOP_DIRECTION_STOP_DOWN" if req.side is Side.SELL else "STOP_DIRECTION_STOP_UP")
            return {"stop_limit_stop_limit_gtc": {"base_size": need(req.base_size, "base_size"),
                                                  "limit_price": need(req.limit_price, "limit_price"),
                                                  "stop_price": need(req.stop_price, "stop_price"),
                                                  "stop_direction": direction}}
        case OrderKind.BRACKET_GTC:
            return {"trigger_bracket_gtc": {"base_size": need(req.base_size, "base_size"),
                                            "limit_price": need(req.limit_price, "limit_price"),
                                            "stop_trigger_price": need(req.stop_price, "stop_price")}}
    raise ValueError(f"unsupported order kind {req.kind!r}")


def _rfc3339(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return format_rfc3339(dt)


def order_result_from(resp: Mapping[str, Any], client_order_id: str) -> OrderResult:
    """Create-order response → OrderResult. `success` + `success_response.order_id` are authoritative."""
    success = opt_bool(resp.get("success")) is True
    ok = resp.get("success_response") or {}
    if success:
        order_id = opt_str(ok.get("order_id")) or opt_str(resp.get("order_id"))
        if not order_id:
            raise AmbiguousCreateResponse(f"success without order_id for client_order_id {client_order_id}")
        return OrderResult(True, str(ok.get("client_order_id") or client_order_id), order_id)
    err = resp.get("error_response") or {}
    failure = _reason(err.get("new_order_failure_reason")) or _reason(err.get("preview_failure_reason")) \
        or _reason(resp.get("failure_reason"))
    error = opt_str(err.get("error")) or failure or "UNKNOWN_FAILURE_REASON"
    message = opt_str(err.get("message")) or opt_str(err.get("error_details"))
    return OrderResult(False, client_order_id, None, error, failure, message)


def order_from(d: Mapping[str, Any]) -> Order:
    config = d.get("order_configuration") or {}
    key, params = next(((k, v) for k, v in config.items() if isinstance(v, Mapping)), ("", {}))
    filled = dec(d.get("filled_size"), ZERO)
    avg = opt_dec(d.get("average_filled_price"))
    return Order(
        order_id=str(d["order_id"]),
        client_order_id=str(d.get("client_order_id") or ""),
        product_id=str(d.get("product_id") or ""),
        side=side_of(d.get("side")),
        status=status_of(d.get("status")),
        kind=CONFIG_KEY_TO_KIND.get(key),
        order_type=str(d.get("order_type") or "").upper(),
        base_size=opt_dec(params.get("base_size")),
        quote_size=opt_dec(params.get("quote_size")),
        limit_price=opt_dec(params.get("limit_price")),
        stop_price=opt_dec(params.get("stop_price") or params.get("stop_trigger_price")),
        filled_size=filled,
        average_filled_price=avg if (avg is not None and filled > 0) else None,
        filled_value=dec(d.get("filled_value"), ZERO),
        total_fees=dec(d.get("total_fees"), ZERO),
        number_of_fills=opt_int(d.get("number_of_fills")) or 0,
        created_time=opt_time(d.get("created_time")),
        post_only=bool(opt_bool(params.get("post_only"))),
        cancel_message=opt_str(d.get("cancel_message")),
        reject_reason=_reason(d.get("reject_reason")) or opt_str(d.get("reject_message")),
    )


def cancel_result_from(d: Mapping[str, Any]) -> CancelResult:
    success = opt_bool(d.get("success")) is True
    reason = _reason(d.get("failure_reason"))
    return CancelResult(str(d.get("order_id") or ""), success, None if success else (reason or "UNKNOWN"))


def fill_from(d: Mapping[str, Any]) -> Fill:
    trade_time = opt_time(d.get("trade_time"))
    if trade_time is None:
        raise ValueError(f"fill {d.get('trade_id')!r} without trade_time")
    return Fill(
        trade_id=str(d["trade_id"]),
        order_id=str(d["order_id"]),
        product_id=str(d.get("product_id") or ""),
        side=side_of(d.get("side")),
        price=dec(d.get("price")),
        size=dec(d.get("size")),
        commission=dec(d.get("commission"), ZERO),
        trade_time=trade_time,
        liquidity_indicator=opt_str(d.get("liquidity_indicator")),
        trade_type=str(d.get("trade_type") or "FILL"),
        sequence_timestamp=opt_time(d.get("sequence_timestamp")),
        entry_id=opt_str(d.get("entry_id")),
    )


# ---- account-level -----------------------------------------------------------------------------

def fee_tier_from(d: Mapping[str, Any]) -> FeeTier:
    tier = d.get("fee_tier") or {}
    return FeeTier(maker_rate=dec(tier.get("maker_fee_rate")), taker_rate=dec(tier.get("taker_fee_rate")),
                   tier_name=str(tier.get("pricing_tier") or ""))


def key_permissions_from(d: Mapping[str, Any]) -> KeyPermissions:
    return KeyPermissions(can_view=bool(opt_bool(d.get("can_view"))), can_trade=bool(opt_bool(d.get("can_trade"))),
                          can_transfer=bool(opt_bool(d.get("can_transfer"))),
                          portfolio_uuid=str(d.get("portfolio_uuid") or ""))


def server_time_from(d: Mapping[str, Any]) -> datetime:
    parsed = opt_time(d.get("iso")) or opt_time(d.get("epochSeconds"))
    if parsed is None:
        raise ValueError(f"server time response without iso/epochSeconds: {d!r}")
    return parsed


# ---- edits and previews ----------------------------------------------------------------------------

ALREADY_APPLIED = "EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST"
_NO_EDIT_REASON = frozenset({"", "UNKNOWN_EDIT_ORDER_FAILURE_REASON", "UNKNOWN_PREVIEW_FAILURE_REASON"})


def edit_body(req: EditRequest) -> dict[str, str]:
    """Keyword arguments of the SDK's edit_order / preview_edit_order (both size and price, always)."""
    body = {"order_id": req.order_id, "size": fmt(req.size), "price": fmt(req.price)}
    if req.stop_price is not None:
        body["stop_trigger_price" if req.is_bracket else "stop_price"] = fmt(req.stop_price)
    return body


def edit_result_from(resp: Mapping[str, Any], order_id: str) -> EditResult:
    """Edit response → EditResult. A retry answered EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST succeeded before."""
    if opt_bool(resp.get("success")) is True:
        ok = resp.get("success_response") or {}
        return EditResult(True, opt_str(ok.get("order_id")) or order_id)
    errors = resp.get("errors") or []
    first: Mapping[str, Any] = errors[0] if errors and isinstance(errors[0], Mapping) else {}
    legacy = resp.get("error_response") or {}
    edit = opt_str(first.get("edit_failure_reason")) or opt_str(legacy.get("edit_order_failure_reason")) or ""
    preview = opt_str(first.get("preview_failure_reason")) or ""
    if edit == ALREADY_APPLIED:
        return EditResult(True, order_id, already_applied=True)
    reason = edit if edit not in _NO_EDIT_REASON else (preview if preview not in _NO_EDIT_REASON else None)
    return EditResult(False, order_id, reason or "UNKNOWN_EDIT_ORDER_FAILURE_REASON",
                      preview if preview not in _NO_EDIT_REASON else None)


def preview_result_from(resp: Mapping[str, Any]) -> PreviewResult:
    errs = tuple(str(e if not isinstance(e, Mapping) else e.get("reason") or e) for e in resp.get("errs") or [])
    slippage = opt_dec(resp.get("slippage")) or ZERO
    return PreviewResult(
        errors=errs, order_total=dec(resp.get("order_total"), ZERO),
        commission_total=dec(resp.get("commission_total"), ZERO), base_size=dec(resp.get("base_size"), ZERO),
        quote_size=dec(resp.get("quote_size"), ZERO), best_bid=opt_dec(resp.get("best_bid")),
        best_ask=opt_dec(resp.get("best_ask")), slippage_pct=slippage * 100,
        preview_id=str(resp.get("preview_id") or ""))
