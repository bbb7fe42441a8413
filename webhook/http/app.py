"""`build_app(deps)`: the webhook process's aiohttp application (`/` is left for the dashboard)."""

from __future__ import annotations

from aiohttp import web

from core.logging import redactor
from webhook.alerts.inbox import AlertInbox
from webhook.http.alert_route import AlertEndpoint
from webhook.http.deps import HttpDeps
from webhook.http.ops_routes import OpsRoutes

DEPS_KEY = web.AppKey("bottrader_http_deps", HttpDeps)
INBOX_KEY = web.AppKey("bottrader_alert_inbox", AlertInbox)


def build_app(deps: HttpDeps) -> web.Application:
    """Routes: POST /webhook, POST /webhook/{secret}, GET /health, /health/live, /health/trailing_stop,
    GET /metrics, POST /admin/halt, POST /admin/resume, GET /admin/state.

    Raises ValueError (naming the setting) when an IP list setting is malformed."""
    settings = deps.settings
    # Log lines never show these, even if one slips into a message.
    redactor.add(*settings.webhook_secret_list(), settings.admin_token.get_secret_value())
    app = web.Application()
    app[DEPS_KEY] = deps
    alerts = AlertEndpoint(deps)
    app[INBOX_KEY] = alerts.inbox
    app.router.add_post("/webhook", alerts.handle)
    app.router.add_post("/webhook/{secret}", alerts.handle)

    async def _close_inbox(_app: web.Application) -> None:
        await alerts.close()

    app.on_cleanup.append(_close_inbox)
    OpsRoutes(deps).add_to(app)
    return app
