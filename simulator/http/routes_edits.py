"""POST /orders/preview, /orders/edit and /orders/edit_preview (reference §3.14).

Business rejections are HTTP 200: preview → `errs`, edit → `success:false` with `errors[]`.
"""

from __future__ import annotations

from aiohttp import web

from simulator.engine.edits import EditFailure, EditOutcome, edit_order, parse_edit_request, preview_edit
from simulator.engine.previews import preview_order
from simulator.http.common import PREFIX, ctx_of, json_body, key_of
from simulator.http.edit_bodies import edit_preview_response, edit_response, preview_response
from simulator.http.errors import json_response, missing_scopes


async def preview(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    key = key_of(request)
    if key is not None and not key.permissions.can_trade:
        return missing_scopes()
    body = await json_body(request)
    outcome = preview_order(ctx.engine, str(body.get("product_id") or ""), str(body.get("side") or ""),
                            body.get("order_configuration"), ctx.now())
    return json_response(preview_response(outcome))


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
    return json_response(edit_preview_response(outcome))


def add_routes(app: web.Application) -> None:
    app.router.add_post(f"{PREFIX}/orders/preview", preview)
    app.router.add_post(f"{PREFIX}/orders/edit", edit)
    app.router.add_post(f"{PREFIX}/orders/edit_preview", edit_preview)
