"""POST /orders/preview, /orders/edit and /orders/edit_preview (reference §3.14).

Business rejections are HTTP 200: preview → `errs`, edit → `success:false` with `errors[]`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from core.money import fmt
from simulator.engine.edits import EditFailure, EditOutcome, edit_order, parse_edit_request, preview_edit
from simulator.engine.fill_quote import FillQuote
from simulator.engine.previews import PreviewOutcome, preview_order
from simulator.http.common import PREFIX, ctx_of, json_body, key_of
from simulator.http.errors import json_response, missing_scopes

ZERO = Decimal(0)


def _opt(value: Decimal | None) -> str:
    return fmt(value) if value is not None else ""


def _quote_fields(quote: FillQuote | None) -> dict[str, Any]:
    if quote is None:
        return {"order_total": "0", "commission_total": "0", "quote_size": "0", "base_size": "0", "best_bid": "",
                "best_ask": "", "slippage": "0", "average_filled_price": "0"}
    return {"order_total": fmt(quote.order_total), "commission_total": fmt(quote.commission),
            "quote_size": fmt(quote.quote_size), "base_size": fmt(quote.base_size), "best_bid": _opt(quote.best_bid),
            "best_ask": _opt(quote.best_ask), "slippage": fmt(quote.slippage),
            "average_filled_price": fmt(quote.average_price)}


async def preview(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    key = key_of(request)
    if key is not None and not key.permissions.can_trade:
        return missing_scopes()
    body = await json_body(request)
    outcome = preview_order(ctx.engine, str(body.get("product_id") or ""), str(body.get("side") or ""),
                            body.get("order_configuration"), ctx.now())
    return json_response(preview_response(outcome))


def preview_response(outcome: PreviewOutcome) -> dict[str, Any]:
    """The preview body, without HTTP (the replay's in-process venue answers with it too)."""
    out = _quote_fields(outcome.quote)
    out.pop("average_filled_price")
    out.update({"errs": list(outcome.errs), "warning": [], "is_max": False, "preview_id": outcome.preview_id,
                "order_margin_total": "0", "leverage": "1", "long_leverage": "1", "short_leverage": "1"})
    return out


def _errors(failure: EditFailure) -> list[dict[str, str]]:
    return [{"edit_failure_reason": failure.edit_failure_reason,
             "preview_failure_reason": failure.preview_failure_reason}]


def edit_response(outcome: EditOutcome) -> dict[str, Any]:
    """The edit body, without HTTP (the replay's in-process venue answers with it too)."""
    if outcome.failure is not None:
        return {"success": False, "errors": _errors(outcome.failure)}
    assert outcome.order is not None
    return {"success": True, "success_response": {"order_id": outcome.order.order_id}, "errors": []}


async def edit(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    key = key_of(request)
    if key is not None and not key.permissions.can_trade:
        return missing_scopes()
    body = await json_body(request)
    rule = ctx.faults.take("edit_reject", "/orders/edit", "POST")
    if rule is not None:
        p = rule.params
        forced = EditFailure(str(p.get("edit_failure_reason", "COMMANDER_REJECTED_EDIT_ORDER")),
                             str(p.get("preview_failure_reason", "UNKNOWN_PREVIEW_FAILURE_REASON")))
        return json_response(edit_response(EditOutcome(failure=forced)))
    outcome = edit_order(ctx.engine, parse_edit_request(body), ctx.now())
    ctx.pump()
    return json_response(edit_response(outcome))


async def edit_preview(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    key = key_of(request)
    if key is not None and not key.permissions.can_trade:
        return missing_scopes()
    body = await json_body(request)
    outcome = preview_edit(ctx.engine, parse_edit_request(body), ctx.now())
    out: dict[str, Any] = {"errors": _errors(outcome.failure) if outcome.failure is not None else []}
    out.update(_quote_fields(outcome.quote))
    return json_response(out)


def add_routes(app: web.Application) -> None:
    app.router.add_post(f"{PREFIX}/orders/preview", preview)
    app.router.add_post(f"{PREFIX}/orders/edit", edit)
    app.router.add_post(f"{PREFIX}/orders/edit_preview", edit_preview)
