"""Who may see the operator surfaces (/metrics, /admin/*, the dashboard): direct loopback clients
(not relayed by a local proxy) or callers with `Authorization: Bearer <ADMIN_TOKEN>` — or, for a
browser, HTTP Basic with any user name and ADMIN_TOKEN as the password (the 401 asks for it).

The alert endpoint faces the internet; these must not, even though they share its port.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from core.logging import get_logger
from core.settings import Settings
from webhook.http.client_ip import FORWARDING_HEADERS, is_direct_loopback, parse_networks

log = get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _presented_token(scheme: str, value: str) -> bytes:
    """The token a caller presents: a Bearer token, or the password of HTTP Basic credentials."""
    if scheme.lower() == "bearer":
        return value.strip().encode("utf-8", "surrogatepass")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return b""
        return decoded.partition(":")[2].encode("utf-8", "surrogatepass")
    return b""


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
        if self._token and hmac.compare_digest(_presented_token(scheme, given), self._token):
            return None
        log.warning("operator_access_denied", path=request.path, remote=request.remote)
        # Basic first: a browser then asks for the password (ADMIN_TOKEN) instead of showing JSON.
        return web.json_response({"error": "unauthorized", "hint": "ADMIN_TOKEN as a Bearer token, or as the "
                                  "password (any user name) when the browser asks"}, status=401,
                                 headers={"WWW-Authenticate": 'Basic realm="bottrader", charset="UTF-8"'})

    def wrap(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            return self.denied(request) or await handler(request)

        return guarded

    def protect(self, routes: Iterable[web.RouteDef]) -> list[web.RouteDef]:
        return [web.RouteDef(r.method, r.path, self.wrap(r.handler), r.kwargs) for r in routes]
