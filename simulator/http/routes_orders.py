"""Create, batch-cancel, get and list orders; list fills."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from simulator.engine.matching import AcceptMode, CreateOutcome
from simulator.engine.orders import Rejection, SimOrder
from simulator.http.common import PREFIX, ctx_of, json_body, key_of
from simulator.http.errors import invalid_argument, json_response, missing_scopes, not_found
from simulator.http.params import Query
from simulator.http.render import echo_configuration, fill_json, order_json

MAX_BATCH_CANCEL = 100
MAX_OPEN_LISTED = 1000
ORDER_NOT_FOUND = "order with this orderID was not found"


def _create_response(outcome: CreateOutcome, raw_config: Any) -> dict[str, Any]:
    if outcome.order is not None:
        order = outcome.order
        return {
            "success": True, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": order.order_id,
            "success_response": {"order_id": order.order_id, "product_id": order.product_id, "side": order.side,
                                 "client_order_id": order.client_order_id},
            "order_configuration": {order.spec.config_key: dict(order.spec.raw)},
        }
    rej = outcome.rejection or Rejection("UNKNOWN_FAILURE_REASON", "UNKNOWN_PREVIEW_FAILURE_REASON", "")
    body: dict[str, Any] = {
        "success": False, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "",
        "error_response": {"error": rej.error, "message": rej.message, "error_details": rej.error_details,
                           "preview_failure_reason": rej.preview_failure_reason,
                           "new_order_failure_reason": rej.error},
    }
    echo = echo_configuration(raw_config)
    if echo is not None:
        body["order_configuration"] = echo
    return body


async def create_order(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    key = key_of(request)
    if key is not None and not key.permissions.can_trade:
        return missing_scopes()
    body = await json_body(request)
    raw_config = body.get("order_configuration")
    now = ctx.now()
    rule = ctx.faults.take("create_reject", "/orders", "POST")
    if rule is not None:
        p = rule.params
        forced = Rejection(str(p.get("error", "UNKNOWN_FAILURE_REASON")),
                           str(p.get("preview_failure_reason", "UNKNOWN_PREVIEW_FAILURE_REASON")),
                           str(p.get("message", "")), str(p.get("error_details", "")))
        return json_response(_create_response(CreateOutcome(rejection=forced), raw_config))
    mode: AcceptMode = "normal"
    pending_until = None
    stuck = ctx.faults.take("create_stuck_pending", "/orders", "POST")
    if stuck is not None:
        mode = "stuck_pending"
        if "for_s" in stuck.params:
            pending_until = now + timedelta(seconds=float(stuck.params["for_s"]))
    elif ctx.faults.take("create_fail", "/orders", "POST") is not None:
        mode = "fail"
    client_order_id = body.get("client_order_id")
    outcome = ctx.engine.create_order(
        client_order_id if isinstance(client_order_id, str) else "",
        str(body.get("product_id") or ""), str(body.get("side") or ""), raw_config, now, mode, pending_until,
    )
    ctx.pump()
    body_out = _create_response(outcome, raw_config)
    if outcome.success and ctx.faults.take("create_odd_payload", "/orders", "POST") is not None:
        body_out.pop("order_id", None)  # legacy fields are optional; success_response is authoritative
        body_out.pop("failure_reason", None)
    return json_response(body_out)


async def batch_cancel(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    key = key_of(request)
    if key is not None and not key.permissions.can_trade:
        return missing_scopes()
    body = await json_body(request)
    ids = body.get("order_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return invalid_argument("order_ids must be a list of strings")
    if len(ids) > MAX_BATCH_CANCEL:
        return invalid_argument(f"at most {MAX_BATCH_CANCEL} order ids per request")
    rule = ctx.faults.take("cancel_delay", "/orders/batch_cancel", "POST")
    delay = float(rule.params.get("delay_s", 5.0)) if rule is not None else None
    results = ctx.engine.cancel_orders(ids, ctx.now(), delay)
    ctx.pump()
    return json_response({"results": [{"success": r.success, "failure_reason": r.failure_reason,
                                       "order_id": r.order_id} for r in results]})


async def get_order(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    order = ctx.engine.orders.get(request.match_info["order_id"])
    if order is None:
        return not_found(ORDER_NOT_FOUND)
    cfg = ctx.engine.config
    return json_response({"order": order_json(order, cfg.user_id, cfg.portfolio_id)})


def _order_filter(q: Query) -> tuple[set[str], Any]:
    statuses = set(q.many("order_status"))
    ids, products = set(q.many("order_ids")), set(q.many("product_ids"))
    types, tifs = set(q.many("order_types")), set(q.many("time_in_forces"))
    side, product_type = q.one("order_side"), q.one("product_type")
    start, end = q.time("start_date"), q.time("end_date")
    open_only = statuses == {"OPEN"}

    def keep(o: SimOrder) -> bool:
        if statuses and o.status not in statuses:
            return False
        if (ids and o.order_id not in ids) or (products and o.product_id not in products):
            return False
        if (types and o.spec.order_type not in types) or (tifs and o.spec.time_in_force not in tifs):
            return False
        if (side and o.side != side) or (product_type not in (None, "SPOT", "UNKNOWN_PRODUCT_TYPE")):
            return False
        # Dates do not apply to OPEN listings.
        return open_only or not ((start and o.created_time < start) or (end and o.created_time > end))

    return statuses, keep


async def list_orders(request: web.Request) -> web.Response:
    ctx, q = ctx_of(request), Query(request.query)
    statuses, keep = _order_filter(q)
    if "OPEN" in statuses and len(statuses) > 1:
        return invalid_argument("OPEN status cannot be combined with other statuses",
                                "order_status OPEN cannot be combined with other statuses")
    limit = q.integer("limit", 100, minimum=0, maximum=3000) or 100
    offset = q.cursor()
    orders = sorted((o for o in ctx.engine.orders.values() if keep(o)),
                    key=lambda o: (o.created_time, o.order_id), reverse=True)
    if statuses == {"OPEN"}:
        orders = orders[:MAX_OPEN_LISTED]
    page = orders[offset:offset + limit]
    has_next = offset + limit < len(orders)
    cfg = ctx.engine.config
    return json_response({"orders": [order_json(o, cfg.user_id, cfg.portfolio_id) for o in page],
                          "sequence": "0", "has_next": has_next, "cursor": str(offset + limit) if has_next else ""})


async def list_fills(request: web.Request) -> web.Response:
    ctx, q = ctx_of(request), Query(request.query)
    order_ids, trade_ids, products = set(q.many("order_ids")), set(q.many("trade_ids")), set(q.many("product_ids"))
    start, end = q.time("start_sequence_timestamp"), q.time("end_sequence_timestamp")
    limit = q.integer("limit", 100, minimum=0, maximum=3000) or 100
    offset = q.cursor()
    now = ctx.now()
    fills = [f for f in ctx.engine.fills
             if ctx.fill_visible(f, now)
             and (not order_ids or f.order_id in order_ids) and (not trade_ids or f.trade_id in trade_ids)
             and (not products or f.product_id in products)
             and (start is None or f.trade_time >= start) and (end is None or f.trade_time <= end)]
    if q.one("sort_by") == "PRICE":
        fills.sort(key=lambda f: (f.price, f.trade_time), reverse=True)
    else:
        fills.reverse()  # newest first
    page = fills[offset:offset + limit]
    more = offset + limit < len(fills)
    user = ctx.engine.config.user_id
    return json_response({"fills": [fill_json(f, user) for f in page], "cursor": str(offset + limit) if more else ""})


def add_routes(app: web.Application) -> None:
    app.router.add_post(f"{PREFIX}/orders", create_order)
    app.router.add_post(f"{PREFIX}/orders/batch_cancel", batch_cancel)
    app.router.add_get(f"{PREFIX}/orders/historical/batch", list_orders)
    app.router.add_get(f"{PREFIX}/orders/historical/fills", list_fills)
    app.router.add_get(f"{PREFIX}/orders/historical/{{order_id}}", get_order)
