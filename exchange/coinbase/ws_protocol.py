"""PURE parsing of Advanced Trade WebSocket text frames into typed events (no I/O, no clock).

Tolerates the documented quirks: missing `client_id`, string or number counters, title-case user
`order_type`, string `post_only`, missing optional user fields, the `reject_Reason` typo, `l2_data`
vs `level2`, envelope-less `{"type":"error"}` frames and unknown channels (→ `Unknown`).
Also the pure per-connection `SequenceTracker` and the `UserUpdateDeduper`.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.enums import OrderStatus, Side
from exchange.coinbase.values import dec, opt_bool, opt_dec, opt_int, opt_str, opt_time

USER_SNAPSHOT_BATCH = 50  # a snapshot message with fewer orders than this is the last one


class FrameError(ValueError):
    """The frame is not JSON or not an object: log it and carry on."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    counter: int | None
    current_time: str


@dataclass(frozen=True, slots=True)
class Subscriptions:
    subscriptions: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class Ticker:
    product_id: str
    price: Decimal
    best_bid: Decimal | None
    best_ask: Decimal | None
    time: datetime | None  # the envelope timestamp (ticker items carry none)
    best_bid_quantity: Decimal | None = None
    best_ask_quantity: Decimal | None = None
    volume_24h: Decimal | None = None
    price_percent_chg_24h: Decimal | None = None
    is_snapshot: bool = False
    batch: bool = False  # from ticker_batch


@dataclass(frozen=True, slots=True)
class UserOrderUpdate:
    order_id: str
    client_order_id: str
    product_id: str
    side: Side | None
    status: OrderStatus
    order_type: str  # normalised to REST spelling: LIMIT, MARKET, STOP_LIMIT, BRACKET …
    cumulative_quantity: Decimal
    leaves_quantity: Decimal | None
    avg_price: Decimal | None
    total_fees: Decimal | None
    filled_value: Decimal | None
    number_of_fills: int | None
    is_snapshot: bool
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    post_only: bool | None = None
    creation_time: datetime | None = None
    cancel_reason: str | None = None
    reject_reason: str | None = None
    time_in_force: str | None = None


@dataclass(frozen=True, slots=True)
class UserSnapshotBatch:
    """One `user` snapshot message; `complete` when it is the last batch (fewer than 50 orders)."""

    orders: tuple[UserOrderUpdate, ...]
    complete: bool


@dataclass(frozen=True, slots=True)
class CandleUpdate:
    product_id: str
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    is_snapshot: bool = False


@dataclass(frozen=True, slots=True)
class L2Level:
    side: str  # "bid" or "offer" ("ask" normalised to "offer")
    price: Decimal
    quantity: Decimal  # new absolute size; 0 removes the level
    event_time: datetime | None


@dataclass(frozen=True, slots=True)
class L2Update:
    product_id: str
    is_snapshot: bool
    levels: tuple[L2Level, ...]


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    message: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """Anything we do not understand (new channel, new type, malformed item): ignored by callers."""

    channel: str
    reason: str = ""


WsEvent = Heartbeat | Subscriptions | Ticker | UserSnapshotBatch | UserOrderUpdate | CandleUpdate | L2Update \
    | ErrorFrame | Unknown


@dataclass(frozen=True, slots=True)
class Frame:
    channel: str
    sequence_num: int | None
    timestamp: datetime | None
    events: tuple[WsEvent, ...] = field(default_factory=tuple)


def parse_frame(text: str | bytes) -> Frame:
    """One text frame → Frame. Raises FrameError only when the frame is not a JSON object."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"not JSON: {str(text)[:120]!r}") from exc
    if not isinstance(data, dict):
        raise FrameError(f"not a JSON object: {str(text)[:120]!r}")
    return parse_message(data)


def parse_message(data: Mapping[str, Any]) -> Frame:
    if "channel" not in data and data.get("type") == "error":
        return Frame("error", None, None, (ErrorFrame(str(data.get("message") or data.get("reason") or "")),))
    channel = str(data.get("channel") or data.get("type") or "")
    try:
        seq = opt_int(data.get("sequence_num"))
    except ValueError:
        seq = None
    try:
        ts = opt_time(data.get("timestamp"))
    except ValueError:
        ts = None
    raw_events = data.get("events")
    if not isinstance(raw_events, list):
        return Frame(channel, seq, ts, (Unknown(channel, "no events list"),))
    parser = _PARSERS.get(channel)
    if parser is None:
        return Frame(channel, seq, ts, (Unknown(channel, "unknown channel"),))
    out: list[WsEvent] = []
    for event in raw_events:
        if not isinstance(event, Mapping):
            out.append(Unknown(channel, "event is not an object"))
            continue
        try:
            out.extend(parser(event, ts))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            out.append(Unknown(channel, f"bad event: {type(exc).__name__}: {exc}"))
    return Frame(channel, seq, ts, tuple(out))


# ---- per-channel parsers -----------------------------------------------------------------------

def _heartbeats(event: Mapping[str, Any], _ts: datetime | None) -> list[WsEvent]:
    try:
        counter = opt_int(event.get("heartbeat_counter"))
    except ValueError:
        counter = None
    return [Heartbeat(counter, str(event.get("current_time") or ""))]


def _subscriptions(event: Mapping[str, Any], _ts: datetime | None) -> list[WsEvent]:
    subs = event.get("subscriptions") or {}
    return [Subscriptions({str(k): [str(p) for p in (v or [])] for k, v in subs.items()})]


def _ticker(batch: bool) -> Any:
    def parse(event: Mapping[str, Any], ts: datetime | None) -> list[WsEvent]:
        snapshot = event.get("type") == "snapshot"
        out: list[WsEvent] = []
        for t in event.get("tickers") or []:
            out.append(Ticker(
                product_id=str(t["product_id"]), price=dec(t.get("price")), best_bid=opt_dec(t.get("best_bid")),
                best_ask=opt_dec(t.get("best_ask")), time=ts,
                best_bid_quantity=opt_dec(t.get("best_bid_quantity")),
                best_ask_quantity=opt_dec(t.get("best_ask_quantity")),
                volume_24h=opt_dec(t.get("volume_24_h")),
                price_percent_chg_24h=opt_dec(t.get("price_percent_chg_24_h")),
                is_snapshot=snapshot, batch=batch,
            ))
        return out

    return parse


def _candles(event: Mapping[str, Any], _ts: datetime | None) -> list[WsEvent]:
    snapshot = event.get("type") == "snapshot"
    out: list[WsEvent] = []
    for c in event.get("candles") or []:
        start = opt_time(c.get("start"))
        if start is None:
            raise ValueError("candle without start")
        out.append(CandleUpdate(str(c.get("product_id") or ""), start, dec(c.get("open")), dec(c.get("high")),
                                dec(c.get("low")), dec(c.get("close")), dec(c.get("volume"), Decimal(0)), snapshot))
    return out


def _l2(event: Mapping[str, Any], _ts: datetime | None) -> list[WsEvent]:
    levels = []
    for u in event.get("updates") or []:
        side = str(u.get("side") or "").lower()
        side = "offer" if side in ("offer", "ask", "sell") else "bid"
        levels.append(L2Level(side, dec(u.get("price_level")), dec(u.get("new_quantity"), Decimal(0)),
                              opt_time(u.get("event_time"))))
    return [L2Update(str(event.get("product_id") or ""), event.get("type") == "snapshot", tuple(levels))]


_ORDER_TYPES = {
    "LIMIT": "LIMIT", "MARKET": "MARKET", "STOP LIMIT": "STOP_LIMIT", "STOPLIMIT": "STOP_LIMIT",
    "STOP_LIMIT": "STOP_LIMIT", "BRACKET": "BRACKET", "STOP": "STOP", "TWAP": "TWAP",
}


def normalise_order_type(value: Any) -> str:
    text = str(value or "").strip().upper()
    return _ORDER_TYPES.get(text, text.replace(" ", "_"))


def _status(value: Any) -> OrderStatus:
    try:
        return OrderStatus(str(value or "").strip().upper())
    except ValueError:
        return OrderStatus.UNKNOWN_ORDER_STATUS


def _side(value: Any) -> Side | None:
    try:
        return Side(str(value or "").strip().upper())
    except ValueError:
        return None


def user_order_from(o: Mapping[str, Any], snapshot: bool) -> UserOrderUpdate:
    reject = opt_str(o.get("reject_reason")) or opt_str(o.get("reject_Reason"))  # 2023 payloads had the typo
    return UserOrderUpdate(
        order_id=str(o["order_id"]),
        client_order_id=str(o.get("client_order_id") or ""),
        product_id=str(o.get("product_id") or ""),
        side=_side(o.get("order_side") or o.get("side")),
        status=_status(o.get("status")),
        order_type=normalise_order_type(o.get("order_type")),
        cumulative_quantity=dec(o.get("cumulative_quantity"), Decimal(0)),
        leaves_quantity=opt_dec(o.get("leaves_quantity")),
        avg_price=opt_dec(o.get("avg_price")),
        total_fees=opt_dec(o.get("total_fees")),
        filled_value=opt_dec(o.get("filled_value")),
        number_of_fills=opt_int(o.get("number_of_fills")),
        is_snapshot=snapshot,
        limit_price=opt_dec(o.get("limit_price")),
        stop_price=opt_dec(o.get("stop_price")),
        post_only=opt_bool(o.get("post_only")),
        creation_time=opt_time(o.get("creation_time")),
        cancel_reason=opt_str(o.get("cancel_reason")),
        reject_reason=reject,
        time_in_force=opt_str(o.get("time_in_force")),
    )


def _user(event: Mapping[str, Any], _ts: datetime | None) -> list[WsEvent]:
    snapshot = event.get("type") == "snapshot"
    raw = event.get("orders") or []
    orders: list[UserOrderUpdate] = []
    bad: list[WsEvent] = []
    for o in raw:  # one malformed order must not hide the others
        try:
            orders.append(user_order_from(o, snapshot))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            bad.append(Unknown("user", f"bad order: {type(exc).__name__}: {exc}"))
    if snapshot:
        return [UserSnapshotBatch(tuple(orders), complete=len(raw) < USER_SNAPSHOT_BATCH), *bad]
    return [*orders, *bad]


_PARSERS: dict[str, Any] = {
    "heartbeats": _heartbeats,
    "subscriptions": _subscriptions,
    "ticker": _ticker(False),
    "ticker_batch": _ticker(True),
    "candles": _candles,
    "l2_data": _l2,
    "level2": _l2,
    "user": _user,
}


# ---- per-connection state (pure) ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SequenceCheck:
    gap: int = 0  # messages missing before this one
    replayed: bool = False  # sequence number at or below the last one seen (duplicate / out of order)


class SequenceTracker:
    """Tracks `sequence_num` (one counter per connection) and `heartbeat_counter`; call `reset` per connection."""

    def __init__(self) -> None:
        self.last_seq: int | None = None
        self.last_heartbeat: int | None = None

    def reset(self) -> None:
        self.last_seq = None
        self.last_heartbeat = None

    def observe(self, seq: int | None) -> SequenceCheck:
        if seq is None:
            return SequenceCheck()
        last = self.last_seq
        if last is None:  # the first message of a connection sets the baseline
            self.last_seq = seq
            return SequenceCheck()
        if seq <= last:
            return SequenceCheck(replayed=True)
        self.last_seq = seq
        return SequenceCheck(gap=seq - last - 1)

    def observe_heartbeat(self, counter: int | None) -> int:
        """Missed heartbeats (a jump in heartbeat_counter) since the previous one on this connection."""
        if counter is None:
            return 0
        last = self.last_heartbeat
        if last is None or counter <= last:
            self.last_heartbeat = counter if last is None else max(last, counter)
            return 0
        self.last_heartbeat = counter
        return counter - last - 1


class UserUpdateDeduper:
    """Drops replayed user-channel states: same (order_id, cumulative_quantity, status), a lower
    cumulative_quantity than already seen, or any non-terminal state after a terminal one.
    Bounded: the least recently touched orders are forgotten past `max_orders`."""

    def __init__(self, max_orders: int = 10_000) -> None:
        self._max = max_orders
        self._orders: OrderedDict[str, tuple[Decimal, set[OrderStatus], bool]] = OrderedDict()

    def is_new(self, update: UserOrderUpdate) -> bool:
        """True the first time a state is seen (and records it)."""
        seen = self._orders.get(update.order_id)
        qty = update.cumulative_quantity
        if seen is None:
            self._orders[update.order_id] = (qty, {update.status}, update.status.is_terminal)
            self._evict()
            return True
        max_qty, statuses, terminal = seen
        self._orders.move_to_end(update.order_id)
        if qty < max_qty or (terminal and not update.status.is_terminal):
            return False
        if qty == max_qty and update.status in statuses:
            return False
        new_statuses = statuses | {update.status} if qty == max_qty else {update.status}
        self._orders[update.order_id] = (qty, new_statuses, terminal or update.status.is_terminal)
        return True

    def _evict(self) -> None:
        while len(self._orders) > self._max:
            self._orders.popitem(last=False)

    def __len__(self) -> int:
        return len(self._orders)
