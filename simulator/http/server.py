"""Assembly of the HTTPS REST application (API routes, admin routes, WebSocket routes for wss)."""

from __future__ import annotations

from aiohttp import web

from simulator.context import SimContext
from simulator.http import routes_account, routes_admin, routes_edits, routes_market, routes_orders, routes_portfolios
from simulator.http.common import CTX
from simulator.http.middleware import RateWindow, error_middleware, make_rest_middleware
from simulator.ws.server import WsEndpoint

# Large enough for any order payload; requests bodies are tiny.
CLIENT_MAX_SIZE = 1024 * 1024


def build_rest_app(ctx: SimContext, ws: WsEndpoint) -> web.Application:
    app = web.Application(middlewares=[error_middleware, make_rest_middleware(RateWindow())],
                          client_max_size=CLIENT_MAX_SIZE)
    app[CTX] = ctx
    routes_market.add_routes(app)
    routes_account.add_routes(app)
    routes_orders.add_routes(app)
    routes_edits.add_routes(app)
    routes_portfolios.add_routes(app)
    routes_admin.add_routes(app)
    app.router.add_get("/health", _health)  # open: container healthchecks (docker compose) probe it
    app.router.add_get("/ws", ws.market)  # wss:// on the REST port as well
    app.router.add_get("/ws/user", ws.user)
    return app


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"live": True, "ready": True})


def build_ws_app(ctx: SimContext, ws: WsEndpoint) -> web.Application:
    app = web.Application()
    app[CTX] = ctx
    app.add_routes(ws.routes())
    return app
