"""The dashboard's "position history" panel: JSON of a symbol's recent trailing-stop and exit events,
and its script. Routes of their own, so the rest of the dashboard can change independently.

    GET /api/dashboard/events/symbols           symbols with a trailing stop or recent history
    GET /api/dashboard/events?symbol=BTC-USD    the last `limit` (≤ 200) events, newest first
"""

from __future__ import annotations

import re
from dataclasses import asdict

from aiohttp import web
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.dashboard.routes import SECURITY_HEADERS, STATIC, json_response
from shared_data.event_models import TrailingStopEventRow
from shared_data.event_store import recent_events
from shared_data.models import TrailingStopState

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
SYMBOL = re.compile(r"^[A-Za-z0-9]{1,15}-[A-Za-z0-9]{1,15}$")
SYMBOLS_LOOKBACK = 500  # recent event rows scanned for symbols without a live trailing stop


class EventHandlers:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def symbols(self, _request: web.Request) -> web.Response:
        async with self._sessions() as session:
            await session.execute(text("SET TRANSACTION READ ONLY"))
            live = list(await session.scalars(select(TrailingStopState.symbol).order_by(TrailingStopState.symbol)))
            recent = (await session.scalars(select(TrailingStopEventRow.symbol)
                                            .order_by(TrailingStopEventRow.id.desc()).limit(SYMBOLS_LOOKBACK))).all()
        seen = dict.fromkeys(live)
        for symbol in recent:
            seen.setdefault(symbol)
        return json_response({"open": live, "symbols": list(seen)})

    async def events(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol", "").strip().upper()
        if not SYMBOL.match(symbol):
            return _bad("symbol is required, like BTC-USD")
        raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            return _bad(f"limit must be a whole number from 1 to {MAX_LIMIT}")
        async with self._sessions() as session:
            await session.execute(text("SET TRANSACTION READ ONLY"))
            entries = await recent_events(session, symbol, int(raw_limit))
        return json_response({"symbol": symbol, "events": [asdict(e) for e in entries]})

    async def script(self, _request: web.Request) -> web.Response:
        return web.Response(text=(STATIC / "events.js").read_text(encoding="utf-8"), content_type="text/javascript",
                            headers=SECURITY_HEADERS)


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400, headers=SECURITY_HEADERS)


def event_routes(sessions: async_sessionmaker[AsyncSession]) -> list[web.RouteDef]:
    h = EventHandlers(sessions)
    return [
        web.get("/api/dashboard/events/symbols", h.symbols),
        web.get("/api/dashboard/events", h.events),
        web.get("/dashboard/events.js", h.script),
    ]
