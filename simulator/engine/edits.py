"""POST /orders/edit and /orders/edit_preview: change a resting GTC order in place.

Only OPEN GTC limit, stop-limit and bracket orders can be edited; the order keeps its id, an
`edit_history` entry is appended and the user channel hears one update. The new order passes the
same validation as create (increments, sizes, post-only crossing, stop side, funds — counting the
order's own hold as available). The size never goes below what is already filled. Failure reasons
are Coinbase's `EditOrderFailureReason` values; validation failures of the edited order carry
`COMMANDER_REJECTED_EDIT_ORDER` plus the specific `preview_failure_reason`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.money import to_decimal
from simulator.engine import validation as v
from simulator.engine.fill_quote import FillQuote, quote_fill
from simulator.engine.matching import MatchingEngine
from simulator.engine.orders import EditRecord, OrderSpec, SimOrder
from simulator.engine.previews import preview_reason

EDITABLE = frozenset({"limit_limit_gtc", "stop_limit_stop_limit_gtc", "trigger_bracket_gtc"})
NO_PREVIEW_REASON = "UNKNOWN_PREVIEW_FAILURE_REASON"


@dataclass(frozen=True, slots=True)
class EditRequest:
    order_id: str
    size: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None  # stop-limit `stop_price`, bracket `stop_trigger_price`


@dataclass(frozen=True, slots=True)
class EditFailure:
    edit_failure_reason: str
    preview_failure_reason: str = NO_PREVIEW_REASON
    message: str = ""


@dataclass(frozen=True, slots=True)
class EditOutcome:
    order: SimOrder | None = None
    failure: EditFailure | None = None
    quote: FillQuote | None = None

    @property
    def success(self) -> bool:
        return self.failure is None


def _number(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return to_decimal(repr(value) if isinstance(value, float) else value)
    except (InvalidOperation, ValueError, TypeError):
        return Decimal(-1)  # invalid text: reported as an invalid edited value, never as "absent"


def parse_edit_request(body: dict[str, Any]) -> EditRequest:
    stop = body.get("stop_price", body.get("stop_trigger_price"))
    return EditRequest(str(body.get("order_id") or ""), _number(body.get("size")), _number(body.get("price")),
                       _number(stop))


def _fail(reason: str, message: str, preview: str = NO_PREVIEW_REASON) -> EditOutcome:
    return EditOutcome(failure=EditFailure(reason, preview, message))


def _edited_spec(order: SimOrder, req: EditRequest, size: Decimal, price: Decimal) -> OrderSpec:
    spec = order.spec
    raw: dict[str, Any] = copy.deepcopy(spec.raw)
    raw["base_size"] = str(size)
    raw["limit_price"] = str(price)
    stop = spec.stop_price
    if req.stop_price is not None:
        stop = req.stop_price
        raw["stop_trigger_price" if spec.order_type == "BRACKET" else "stop_price"] = str(stop)
    return replace(spec, raw=raw, base_size=size, limit_price=price, stop_price=stop)


def check_edit(engine: MatchingEngine, req: EditRequest, now: datetime) -> tuple[SimOrder, OrderSpec] | EditOutcome:
    """The order and its edited spec, or the first failure (in the order below)."""
    order = engine.orders.get(req.order_id)
    if order is None:
        return _fail("ORDER_NOT_FOUND", "order with this orderID was not found")
    spec = order.spec
    if spec.config_key not in EDITABLE:
        return _fail("ONLY_LIMIT_ORDER_EDITS_SUPPORTED", "only GTC limit, stop-limit and bracket orders can be edited")
    if order.status != "OPEN" or order.pending_cancel:
        return _fail("ONLY_OPEN_ORDERS_CAN_BE_EDITED", f"order is {order.status}")
    if order.trigger_status == "STOP_TRIGGERED":
        return _fail("ONLY_OPEN_ORDERS_CAN_BE_EDITED", "the stop has already triggered")
    if req.size is None or req.size <= 0:
        return _fail("INVALID_EDITED_SIZE", "size is required and must be positive")
    if req.price is None or req.price <= 0:
        return _fail("INVALID_EDITED_PRICE", "price is required and must be positive")
    if req.stop_price is not None and spec.order_type == "LIMIT":
        return _fail("FIELD_STOPPRICE_NOT_SUPPORTED", "a limit order has no stop price")
    if req.stop_price is not None and req.stop_price <= 0:
        return _fail("INVALID_EDITED_PRICE", "stop price must be positive")
    if req.size < order.filled_size:
        return _fail("CANNOT_EDIT_TO_BELOW_FILLED_SIZE", f"filled {order.filled_size} already")
    new_spec = _edited_spec(order, req, req.size, req.price)
    if (new_spec.base_size, new_spec.limit_price, new_spec.stop_price) == (
            spec.base_size, spec.limit_price, spec.stop_price):
        return _fail("EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST", "the edit changes nothing")
    market = engine.markets[order.product_id]
    state, cfg = market.state, engine.config
    rejection = (v.check_precision(new_spec, state) or v.check_sizes(new_spec, order.side, state, market.book)
                 or v.check_prices(new_spec, order.side, state, market.book, market.price, now))
    if rejection is None:
        need = _hold_needed(order, new_spec, cfg.taker_fee_rate, cfg.bracket_stop_slippage)
        have = engine.ledger.available(order.hold_currency) + order.hold_remaining
        if need > have:
            rejection = v.check_funds(("quote", need), have, have)
    if rejection is not None:
        return _fail("COMMANDER_REJECTED_EDIT_ORDER", rejection.message, preview_reason(rejection))
    return order, new_spec


def _hold_needed(order: SimOrder, spec: OrderSpec, taker_fee_rate: Decimal, slippage: Decimal) -> Decimal:
    leaves = (spec.base_size or Decimal(0)) - order.filled_size
    if not order.is_buy:
        return leaves
    per_base = v.buy_hold_per_base(spec, taker_fee_rate, slippage) or Decimal(0)
    return leaves * per_base


def preview_edit(engine: MatchingEngine, req: EditRequest, now: datetime) -> EditOutcome:
    checked = check_edit(engine, req, now)
    if isinstance(checked, EditOutcome):
        return checked
    order, spec = checked
    market = engine.markets[order.product_id]
    cfg = engine.config
    return EditOutcome(order=order, quote=quote_fill(spec, order.side, market.book, cfg.maker_fee_rate,
                                                     cfg.taker_fee_rate, market.state.spec.base_increment))


def edit_order(engine: MatchingEngine, req: EditRequest, now: datetime) -> EditOutcome:
    checked = check_edit(engine, req, now)
    if isinstance(checked, EditOutcome):
        return checked
    order, spec = checked
    cfg = engine.config
    need = _hold_needed(order, spec, cfg.taker_fee_rate, cfg.bracket_stop_slippage)
    # Re-size the hold to exactly what the edited order needs (release first: the new need may be smaller).
    if order.hold_remaining > 0:
        engine.ledger.release_hold(order.hold_currency, order.hold_remaining)
    engine.ledger.place_hold(order.hold_currency, need)
    order.hold_remaining = need
    if order.is_buy:
        order.per_base_hold = v.buy_hold_per_base(spec, cfg.taker_fee_rate, cfg.bracket_stop_slippage)
    order.spec = spec
    order.working_price = spec.limit_price
    assert spec.base_size is not None and spec.limit_price is not None
    order.edit_history = (*order.edit_history, EditRecord(spec.limit_price, spec.base_size, now, spec.stop_price))
    engine.order_changed(order)  # the user channel hears the edit
    market = engine.markets[order.product_id]
    if spec.order_type == "LIMIT" and not spec.post_only:
        engine.take_now(order, market, now)  # an edit that now crosses trades, as a new order would
    return EditOutcome(order=order)
