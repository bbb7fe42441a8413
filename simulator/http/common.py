"""Shared bits of the route modules: the context key, the API prefix, JSON body parsing."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from simulator.context import SimContext
from simulator.http.errors import BadRequest
from simulator.keys import RegisteredKey

PREFIX = "/api/v3/brokerage"
CTX: web.AppKey[SimContext] = web.AppKey("sim_ctx", SimContext)
KEY_ATTR: web.RequestKey[RegisteredKey] = web.RequestKey("sim_key", RegisteredKey)


def ctx_of(request: web.Request) -> SimContext:
    return request.app[CTX]


def key_of(request: web.Request) -> RegisteredKey | None:
    return request.get(KEY_ATTR)


async def json_body(request: web.Request) -> dict[str, Any]:
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body
