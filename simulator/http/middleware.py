"""Request pipeline: errors → faults → JWT auth → handler → lowercase x-ratelimit-* headers."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from core.logging import get_logger
from simulator.http.auth import AuthFailure, bearer_token
from simulator.http.common import KEY_ATTR, PREFIX, ctx_of
from simulator.http.errors import BadRequest, html_error, invalid_argument, json_error, missing_scopes, unauthorized

log = get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Any  # aiohttp's middleware protocol


def is_public(sub_path: str) -> bool:
    return sub_path == "/time" or sub_path.startswith("/market/")


def is_loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as exc:
        return invalid_argument(str(exc))
    except web.HTTPNotFound:
        return json_error(404, "NOT_FOUND", "Not Found")
    except web.HTTPMethodNotAllowed:
        return json_error(405, "METHOD_NOT_ALLOWED", "Method Not Allowed")
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("sim_request_failed", path=request.path)
        return json_error(500, "INTERNAL", "internal error")


class RateWindow:
    """Requests per identity in the last second, for the x-ratelimit-* headers (and optional 429s)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def hit(self, identity: str) -> int:
        now = time.monotonic()
        window = self._hits[identity]
        while window and now - window[0] >= 1.0:
            window.popleft()
        window.append(now)
        return len(window)


def _rate_headers(resp: web.StreamResponse, limit: int, used: int) -> None:
    # Written lowercase on purpose: the SDK looks them up in a plain (case-sensitive) dict.
    resp.headers["x-ratelimit-limit"] = str(limit)
    resp.headers["x-ratelimit-remaining"] = str(max(0, limit - used))
    resp.headers["x-ratelimit-reset"] = "1"


def make_rest_middleware(rates: RateWindow) -> Middleware:
    @web.middleware
    async def rest_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith("/admin"):
            if not is_loopback(request):
                return json_error(403, "PERMISSION_DENIED", "admin endpoints are loopback-only")
            return await handler(request)
        if not path.startswith(PREFIX):
            return await handler(request)
        ctx = ctx_of(request)
        sub, method = path[len(PREFIX):], request.method
        public = is_public(sub)
        cfg = ctx.config
        limit = cfg.public_rate_per_s if public else cfg.private_rate_per_s
        early = await _pre_faults(request, sub, method, limit)
        if early is not None:
            return early
        identity = request.remote or "?"
        if not public:
            token = bearer_token(request.headers.get("Authorization"))
            host = cfg.jwt_host or request.host
            result = ctx.verifier.verify(token, f"{method} {host}{path}") if token else AuthFailure("no token")
            if isinstance(result, AuthFailure):
                log.info("sim_auth_failed", reason=result.reason, path=path)
                return unauthorized()
            request[KEY_ATTR] = result
            identity = result.name
        used = rates.hit(identity)
        if cfg.enforce_rate_limits and used > limit:
            limited = json_error(429, "RESOURCE_EXHAUSTED", "Too many requests")
            _rate_headers(limited, limit, limit)
            return limited
        slow = ctx.faults.take("slow", sub, method)
        reset = ctx.faults.take("reset", sub, method)
        if (slow and not _truthy(slow.params.get("process", True))) or (
                reset and not _truthy(reset.params.get("process", True))):
            # The "not created" variants: stall or drop before the request is handled at all.
            if slow:
                await asyncio.sleep(float(slow.params.get("delay_s", 30)))
            if reset:
                _abort(request)
            return json_error(503, "UNAVAILABLE", "service unavailable")
        resp = await handler(request)
        if slow:
            await asyncio.sleep(float(slow.params.get("delay_s", 30)))
        if reset:
            _abort(request)
        _rate_headers(resp, limit, used)
        return resp

    return rest_middleware


def _truthy(value: object) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


async def _pre_faults(request: web.Request, sub: str, method: str, limit: int) -> web.StreamResponse | None:
    faults = ctx_of(request).faults
    if faults.take("http_401", sub, method):
        return unauthorized()
    if faults.take("http_403", sub, method):
        return missing_scopes()
    rule = faults.take("http_429", sub, method)
    if rule is not None:
        resp = html_error(429, "Too Many Requests") if rule.params.get("body") == "html" else json_error(
            429, "RESOURCE_EXHAUSTED", "Too many requests")
        _rate_headers(resp, limit, limit)
        return resp
    rule = faults.take("http_5xx", sub, method)
    if rule is not None:
        status = int(rule.params.get("status", 500))
        if rule.params.get("body") == "html":
            return html_error(status, "Server Error")
        return json_error(status, "INTERNAL" if status == 500 else "UNAVAILABLE", "Internal server error")
    return None
