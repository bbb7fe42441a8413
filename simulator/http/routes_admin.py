"""Loopback-only admin endpoints: faults, prices, product flags, stepping, keys, deposits."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from core.money import to_decimal
from simulator.faults import FAULT_KINDS
from simulator.http.common import ctx_of, json_body
from simulator.http.errors import BadRequest, invalid_argument, json_response
from simulator.keys import KeyPermissions

_RULE_FIELDS = ("count", "probability", "for_s", "start_in_s", "path", "method")


def _decimal(value: Any, name: str) -> Decimal:
    try:
        result = to_decimal(value if not isinstance(value, float) else repr(value))
    except (TypeError, InvalidOperation):
        raise BadRequest(f"{name} must be a decimal string") from None
    if not result.is_finite() or result <= 0:
        raise BadRequest(f"{name} must be positive")
    return result


async def get_faults(request: web.Request) -> web.Response:
    return json_response({"rules": ctx_of(request).faults.rules(), "kinds": FAULT_KINDS})


async def post_faults(request: web.Request) -> web.Response:
    """{"kind": "...", "count"|"probability"|"for_s"|"start_in_s"|"path"|"method": …, "params": {…}}
    or {"clear": true, "kind": optional}."""
    ctx, body = ctx_of(request), await json_body(request)
    if body.get("clear"):
        removed = ctx.faults.clear(body.get("kind"), body.get("id"))
        return json_response({"cleared": removed})
    kind = body.get("kind")
    params = body.get("params") or {}
    if not isinstance(kind, str) or not isinstance(params, dict):
        return invalid_argument("kind (string) and params (object) are required")
    try:
        rule = ctx.faults.add(kind, **{k: body[k] for k in _RULE_FIELDS if k in body}, **params)
    except (TypeError, ValueError) as exc:
        return invalid_argument(str(exc))
    return json_response({"rule": rule.to_json(0.0) | {"id": rule.id}})


async def delete_faults(request: web.Request) -> web.Response:
    return json_response({"cleared": ctx_of(request).faults.clear()})


async def post_price(request: web.Request) -> web.Response:
    ctx, body = ctx_of(request), await json_body(request)
    pid = body.get("product_id")
    if not isinstance(pid, str) or ctx.engine.market(pid) is None:
        return invalid_argument("unknown product_id")
    ctx.engine.set_price(pid, _decimal(body.get("price"), "price"), ctx.now())
    ctx.pump()
    return json_response({"product_id": pid, "price": str(ctx.engine.markets[pid].price)})


async def post_product(request: web.Request) -> web.Response:
    """{"product_id": "BTC-USD", "trading_disabled": true, "status": "offline", …}"""
    ctx, body = ctx_of(request), await json_body(request)
    pid = body.pop("product_id", None)
    market = ctx.engine.market(pid) if isinstance(pid, str) else None
    if market is None:
        return invalid_argument("unknown product_id")
    try:
        market.state.flags.update(**body)
    except ValueError as exc:
        return invalid_argument(str(exc))
    return json_response({"product_id": pid, "flags": asdict(market.state.flags)})


async def post_step(request: web.Request) -> web.Response:
    body = await json_body(request)
    n = body.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= 100_000:
        return invalid_argument("n must be an integer between 1 and 100000")
    ctx = ctx_of(request)
    if ctx.stepper is None:
        return invalid_argument("stepping is not available")
    await ctx.stepper(n)
    return json_response({"ticks": ctx.engine.ticks})


async def post_key(request: web.Request) -> web.Response:
    """{"name": "...", "public_pem": "...", "permissions": {...}}"""
    ctx, body = ctx_of(request), await json_body(request)
    name, pem = body.get("name"), body.get("public_pem")
    if not isinstance(name, str) or not isinstance(pem, str):
        return invalid_argument("name and public_pem are required")
    try:
        ctx.keys.register(name, pem, KeyPermissions(**(body.get("permissions") or {})))
    except (TypeError, ValueError) as exc:
        return invalid_argument(str(exc))
    return json_response({"registered": name})


async def post_fill_correction(request: web.Request) -> web.Response:
    """{"trade_id": "...", "trade_type": "REVERSAL" | "CORRECTION"} (R13)."""
    ctx, body = ctx_of(request), await json_body(request)
    trade_id, trade_type = body.get("trade_id"), body.get("trade_type", "CORRECTION")
    if trade_type not in ("REVERSAL", "CORRECTION") or not any(f.trade_id == trade_id for f in ctx.engine.fills):
        return invalid_argument("a known trade_id and trade_type REVERSAL|CORRECTION are required")
    fill = ctx.engine.add_fill_correction(str(trade_id), str(trade_type), ctx.now())
    ctx.pump()
    return json_response({"trade_id": fill.trade_id, "trade_type": fill.trade_type})


async def post_deposit(request: web.Request) -> web.Response:
    ctx, body = ctx_of(request), await json_body(request)
    currency = body.get("currency")
    if not isinstance(currency, str) or not currency:
        return invalid_argument("currency is required")
    ctx.engine.deposit(currency.upper(), _decimal(body.get("amount"), "amount"))
    ctx.pump()  # balances are written before the answer
    return json_response({"balances": {c: [str(a), str(h)] for c, (a, h) in ctx.engine.balances().items()}})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/faults", get_faults)
    app.router.add_post("/admin/faults", post_faults)
    app.router.add_delete("/admin/faults", delete_faults)
    app.router.add_post("/admin/price", post_price)
    app.router.add_post("/admin/product", post_product)
    app.router.add_post("/admin/step", post_step)
    app.router.add_post("/admin/keys", post_key)
    app.router.add_post("/admin/deposit", post_deposit)
    app.router.add_post("/admin/fill_correction", post_fill_correction)
