"""WebSocket message shapes (section 4 of the reference): envelopes and per-channel events. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.money import fmt
from simulator.engine.book import Level
from simulator.engine.candles import Bucket
from simulator.engine.market import Market, Stats24h
from simulator.engine.orders import MarketTrade, SimOrder
from simulator.http.render import total_value_after_fees

UNSET_TIME = "0001-01-01T00:00:00Z"
MARKET_CHANNELS = frozenset({"heartbeats", "candles", "market_trades", "status", "ticker", "ticker_batch", "level2",
                             "user", "futures_balance_summary"})
USER_ENDPOINT_CHANNELS = frozenset({"heartbeats", "user", "futures_balance_summary"})
AUTH_CHANNELS = frozenset({"user", "futures_balance_summary"})
DATA_CHANNEL = {"level2": "l2_data"}  # subscribe name → data channel name


def ws_time(dt: datetime) -> str:
    """RFC 3339 with nanoseconds."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def go_time(dt: datetime, uptime_s: float) -> str:
    """Go's time.Time String(), as production puts in heartbeats."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + f"000 +0000 UTC m=+{uptime_s:.9f}"


def envelope(channel: str, seq: int, events: list[dict[str, Any]], now: datetime,
             with_client_id: bool = True) -> dict[str, Any]:
    msg: dict[str, Any] = {"channel": channel}
    if with_client_id:
        msg["client_id"] = ""
    msg.update(timestamp=ws_time(now), sequence_num=seq, events=events)
    return msg


def subscriptions_event(subs: dict[str, set[str]]) -> dict[str, Any]:
    listing = {ch: (["heartbeats"] if ch == "heartbeats" else sorted(products)) for ch, products in subs.items()}
    return {"subscriptions": listing}


def heartbeat_event(now: datetime, uptime_s: float, counter: int, as_string: bool) -> dict[str, Any]:
    return {"current_time": go_time(now, uptime_s), "heartbeat_counter": str(counter) if as_string else counter}


def ticker_json(market: Market, stats: Stats24h, with_best: bool = True) -> dict[str, Any]:
    bid, ask = market.top_of_book()
    out = {
        "type": "ticker", "product_id": market.product_id, "price": fmt(market.price),
        "volume_24_h": fmt(stats.volume), "low_24_h": fmt(stats.low), "high_24_h": fmt(stats.high),
        "low_52_w": fmt(stats.low_52w), "high_52_w": fmt(stats.high_52w),
        "price_percent_chg_24_h": fmt(stats.price_change_pct),
    }
    if with_best:
        out.update(best_bid=fmt(bid.price) if bid else "", best_bid_quantity=fmt(bid.size) if bid else "",
                   best_ask=fmt(ask.price) if ask else "", best_ask_quantity=fmt(ask.size) if ask else "")
    return out


def l2_levels(levels: list[Level]) -> dict[Decimal, Decimal]:
    return {lv.price: lv.size for lv in levels if lv.size > 0}


def l2_updates(side: str, before: dict[Decimal, Decimal], after: dict[Decimal, Decimal],
               event_time: str) -> list[dict[str, str]]:
    """Absolute new quantities for changed levels; "0" removes a level."""
    out = []
    for price in sorted(set(before) | set(after), reverse=(side == "bid")):
        old, new = before.get(price), after.get(price)
        if old != new:
            out.append({"side": side, "event_time": event_time, "price_level": fmt(price),
                        "new_quantity": fmt(new) if new is not None else "0"})
    return out


def l2_snapshot_event(product_id: str, bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal]) -> dict[str, Any]:
    t = "1970-01-01T00:00:00Z"
    return {"type": "snapshot", "product_id": product_id,
            "updates": l2_updates("bid", {}, bids, t) + l2_updates("offer", {}, asks, t)}


def candle_ws_json(product_id: str, bucket: Bucket) -> dict[str, str]:
    return {"start": str(bucket.start), "high": fmt(bucket.high), "low": fmt(bucket.low), "open": fmt(bucket.open),
            "close": fmt(bucket.close), "volume": fmt(bucket.volume), "product_id": product_id}


def trade_ws_json(trade: MarketTrade) -> dict[str, str]:
    return {"trade_id": trade.trade_id, "product_id": trade.product_id, "price": fmt(trade.price),
            "size": fmt(trade.size), "side": trade.side, "time": ws_time(trade.time)}


def status_product_json(market: Market) -> dict[str, str]:
    spec = market.state.spec
    return {"product_type": "SPOT", "id": spec.product_id, "base_currency": spec.base_currency,
            "quote_currency": spec.quote_currency, "base_increment": fmt(spec.base_increment),
            "quote_increment": fmt(spec.quote_increment), "display_name": f"{spec.base_currency}/{spec.quote_currency}",
            "status": market.state.flags.status, "status_message": "", "min_market_funds": fmt(spec.quote_min_size)}


def _ws_order_type(order: SimOrder, stop_limit_name: str) -> str:
    return {"MARKET": "Market", "LIMIT": "Limit", "STOP_LIMIT": stop_limit_name, "BRACKET": "Bracket"}.get(
        order.spec.order_type, order.spec.order_type.title())


def user_order_json(order: SimOrder, portfolio_id: str, stop_limit_name: str = "Stop Limit",
                    minimal: bool = False) -> dict[str, str]:
    base = {
        "order_id": order.order_id, "client_order_id": order.client_order_id,
        "cumulative_quantity": fmt(order.filled_size), "leaves_quantity": fmt(order.leaves),
        "avg_price": fmt(order.average_price), "total_fees": fmt(order.total_fees), "status": order.status,
        "product_id": order.product_id, "creation_time": ws_time(order.created_time).replace("000Z", "Z"),
        "order_side": order.side, "order_type": _ws_order_type(order, stop_limit_name),
        "cancel_reason": order.cancel_message,
    }
    if minimal:
        base["reject_Reason"] = ""  # the 2023 typo
        return base
    spec = order.spec
    end_time = ws_time(spec.end_time).replace("000Z", "Z") if spec.end_time is not None else UNSET_TIME
    base.update({
        "completion_percentage": fmt(order.completion_percentage().quantize(Decimal("0.01"))),
        "contract_expiry_type": "UNKNOWN_CONTRACT_EXPIRY_TYPE",
        "filled_value": fmt(order.filled_value),
        "limit_price": fmt(order.working_price) if order.working_price is not None else "",
        "number_of_fills": str(order.number_of_fills),
        "outstanding_hold_amount": fmt(order.hold_remaining),
        "post_only": "true" if spec.post_only else "false",
        "product_type": "SPOT",
        "reject_reason": "" if order.reject_reason == "REJECT_REASON_UNSPECIFIED" else order.reject_reason,
        "retail_portfolio_id": portfolio_id,
        "risk_managed_by": "UNKNOWN_RISK_MANAGEMENT_TYPE",
        "stop_price": fmt(spec.stop_price) if spec.stop_price is not None else "",
        "time_in_force": spec.time_in_force,
        "total_value_after_fees": fmt(total_value_after_fees(order)),
        "trigger_status": order.trigger_status,
        "end_time": end_time,
        "start_time": UNSET_TIME,
    })
    return base


EMPTY_POSITIONS: dict[str, list[Any]] = {"perpetual_futures_positions": [], "expiring_futures_positions": []}
