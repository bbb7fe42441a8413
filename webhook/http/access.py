"""Who may see the operator surfaces (/metrics, /admin/*, the dashboard): direct loopback clients
(not relayed by a local proxy) or callers with `Authorization: Bearer <ADMIN_TOKEN>`.

The alert endpoint faces the internet; these must not, even though they share its port.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from core.logging import get_logger
from core.settings import Settings
from webhook.http.client_ip import FORWARDING_HEADERS, is_direct_loopback, parse_networks

log = get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class OperatorGuard:
    def __init__(self, settings: Settings) -> None:
        self._trusted = parse_networks(settings.webhook_trusted_proxies, "WEBHOOK_TRUSTED_PROXIES")
        self._token = settings.admin_token.get_secret_value().encode()

    def denied(self, request: web.Request) -> web.Response | None:
        """None when the caller may proceed, else the 401 to send."""
        forwarded = any(h in request.headers for h in FORWARDING_HEADERS)
        if is_direct_loopback(request.remote, forwarded, self._trusted):
            return None
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if self._token and scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8", "surrogatepass"), self._token
        ):
            return None
        log.warning("operator_access_denied", path=request.path, remote=request.remote)
        return web.json_response({"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Bearer"})

    def wrap(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            return self.denied(request) or await handler(request)

        return guarded

    def protect(self, routes: Iterable[web.RouteDef]) -> list[web.RouteDef]:
        return [web.RouteDef(r.method, r.path, self.wrap(r.handler), r.kwargs) for r in routes]
