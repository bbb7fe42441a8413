"""aiohttp routes of the read-only dashboard: the page at `/`, its assets, JSON under `/api/dashboard/`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock, SystemClock, format_rfc3339
from core.logging import get_logger
from core.money import ZERO, fmt
from reports.dashboard import queries, working
from reports.dashboard.account import AccountSource, account_summary
from reports.dashboard.alerts import recent_alerts
from reports.dashboard.data import DashboardData
from reports.dashboard.positions import PositionRow, position_row
from reports.performance import ExitThresholds, build_performance_report
from reports.performance_output import group_to_dict
from reports.queries import load_trade_outcomes

log = get_logger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
# Everything is same-origin; the page loads no third-party code and nothing inline.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, datetime):
        return format_rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_response(payload: Any) -> web.Response:
    return web.Response(text=json.dumps(payload, default=_jsonable), content_type="application/json",
                        headers=SECURITY_HEADERS)


def _hundredths(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.01"))


def position_to_dict(row: PositionRow) -> dict[str, Any]:
    p = row.position
    trailing = p.trailing
    return {
        "symbol": p.symbol,
        "size": p.size,
        "entry_price": p.entry_price,
        "last_price": p.last_price,
        "quote_age_s": p.quote_age_s,
        "stale": row.stale,
        "unrealized_pnl_usd": _hundredths(row.unrealized_pnl_usd),
        "unrealized_pct": _hundredths(row.unrealized_pct),
        "opened_at": p.opened_at,
        "hodl": p.hodl,
        "open_exit_order_id": p.open_exit_order_id,
        "trailing": None if trailing is None else {
            "state": trailing.state, "current_stop": trailing.current_stop, "highest_price": trailing.highest_price,
            "atr": trailing.atr, "stop_order_id": trailing.stop_order_id, "activated_at": trailing.activated_at,
        },
        "exits": [
            {"name": e.name, "price": e.price, "distance_pct": _hundredths(e.distance_pct)} for e in row.exits
        ],
    }


def fill_days(points: list[queries.DayPnl], first: date, last: date) -> list[dict[str, Any]]:
    """One entry per calendar day of the window (zero on days without sells), with the running total."""
    by_day = {p.day: p for p in points}
    out, cumulative, day = [], ZERO, first
    while day <= last:
        p = by_day.get(day)
        pnl = p.pnl_usd if p else ZERO
        cumulative += pnl
        out.append({"day": day, "sells": p.sells if p else 0, "pnl_usd": pnl, "cumulative_pnl_usd": cumulative})
        day += timedelta(days=1)
    return out


class DashboardHandlers:
    def __init__(self, data: DashboardData, clock: Clock, poll_interval_s: float, window_days: int,
                 recent_limit: int) -> None:
        self.data = data
        self.clock = clock
        self.poll_interval_s = poll_interval_s
        self.window_days = window_days
        self.recent_limit = recent_limit

    # -- sections (each returns JSON-ready data) --------------------------------------------------
    async def positions(self) -> list[dict[str, Any]]:
        settings = self.data.settings
        thresholds = ExitThresholds.from_settings(settings)
        snapshots = sorted(await self.data.positions(), key=lambda p: p.symbol)
        return [position_to_dict(position_row(p, thresholds, settings.quote_max_age_s)) for p in snapshots]

    async def health(self) -> dict[str, Any]:
        h = await self.data.health()
        return {
            "trading_mode": self.data.settings.trading_mode.value,
            "entries_halted": h.entries_halted or any(b.tripped for b in h.breakers),
            "breakers": [{"name": b.name, "tripped": b.tripped, "reason": b.reason, "tripped_at": b.tripped_at}
                         for b in h.breakers],
            "feeds": [{"name": f.name, "healthy": f.healthy, "last_message_age_s": f.last_message_age_s,
                       "detail": f.detail} for f in h.feeds],
        }

    async def _read(self, fn: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with self.data.sessions() as session:
            await session.execute(text("SET TRANSACTION READ ONLY"))
            return await fn(session)

    async def account(self) -> dict[str, Any] | None:
        """Equity and cash (None when the data source has no account, e.g. a read-only viewer)."""
        if not isinstance(self.data, AccountSource):
            return None
        return account_summary(await self.data.cash(), await self.data.positions())

    def products(self) -> dict[str, dict[str, Decimal]]:
        """Each product's size and price increments: the page rounds what it shows to them."""
        if not isinstance(self.data, AccountSource):
            return {}
        return {symbol: {"base_increment": inc.base_increment, "quote_increment": inc.quote_increment}
                for symbol, inc in self.data.increments().items()}

    async def alerts(self) -> list[dict[str, Any]]:
        rows = await self._read(lambda s: recent_alerts(s, self.recent_limit))
        return [asdict(r) for r in rows]

    async def orders(self) -> list[dict[str, Any]]:
        rows = await self._read(lambda s: queries.recent_orders(s, self.recent_limit))
        return [asdict(r) for r in rows]

    async def fills(self) -> list[dict[str, Any]]:
        rows = await self._read(lambda s: queries.recent_fills(s, self.recent_limit))
        return [asdict(r) for r in rows]

    async def working_orders(self) -> list[dict[str, Any]]:
        return await self._read(lambda s: working.working_orders(s, self.recent_limit))

    async def dust(self) -> list[dict[str, Any]]:
        return await self._read(working.dust)

    def _window_start(self) -> tuple[date, datetime, date]:
        tz = ZoneInfo(self.data.settings.tax_timezone)
        today = self.clock.now().astimezone(tz).date()
        first = today - timedelta(days=self.window_days - 1)
        return first, datetime.combine(first, datetime.min.time(), tz), today

    async def exits(self) -> dict[str, Any]:
        _first, since, _today = self._window_start()
        trades = await self._read(lambda s: load_trade_outcomes(s, since))
        report = build_performance_report(trades, ExitThresholds.from_settings(self.data.settings), since=since)
        return {
            "window_days": self.window_days,
            "by_reason": [group_to_dict(g) for g in report.by_reason],
            "overall": group_to_dict(report.overall),
            "excluded_missing_basis_trades": report.excluded_missing_basis,
        }

    async def pnl_daily(self) -> dict[str, Any]:
        first, since, today = self._window_start()
        tz_name = self.data.settings.tax_timezone
        points = await self._read(lambda s: queries.pnl_by_day(s, tz_name, since))
        return {"window_days": self.window_days, "timezone": tz_name, "days": fill_days(points, first, today)}

    # -- HTTP handlers -------------------------------------------------------------------------
    async def index(self, _request: web.Request) -> web.Response:
        return web.Response(text=(STATIC / "index.html").read_text(encoding="utf-8"), content_type="text/html",
                            headers=SECURITY_HEADERS)

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ASSETS:  # a fixed list: no path ever reaches the file system from the URL
            raise web.HTTPNotFound()
        return web.Response(text=(STATIC / name).read_text(encoding="utf-8"), content_type=ASSETS[name],
                            headers=SECURITY_HEADERS)

    async def summary(self, _request: web.Request) -> web.Response:
        sections: dict[str, Callable[[], Awaitable[Any]]] = {
            "positions": self.positions, "health": self.health, "orders": self.orders, "fills": self.fills,
            "exits": self.exits, "pnl_daily": self.pnl_daily,
            "account": self.account, "alerts": self.alerts,
            "working_orders": self.working_orders, "dust": self.dust,
        }
        payload: dict[str, Any] = {
            "generated_at": self.clock.now(), "poll_interval_s": self.poll_interval_s, "errors": {},
            "products": self.products(),
        }
        for name, fn in sections.items():
            # One failing source (DB hiccup, feed object) must not blank the whole page.
            try:
                payload[name] = await fn()
            except Exception as exc:
                log.warning("dashboard_section_failed", section=name, error=repr(exc))
                payload[name] = None
                payload["errors"][name] = f"{type(exc).__name__}: {exc}"[:300]
        return json_response(payload)

    def section(self, fn: Callable[[], Awaitable[Any]]) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(_request: web.Request) -> web.Response:
            return json_response(await fn())

        return handler


def dashboard_routes(
    data: DashboardData,
    *,
    clock: Clock | None = None,
    poll_interval_s: float = 3.0,
    window_days: int = 30,
    recent_limit: int = 20,
) -> list[web.RouteDef]:
    """GET-only routes: `/` (the page), `/dashboard/assets/{name}`, and JSON under `/api/dashboard/`."""
    h = DashboardHandlers(data, clock or SystemClock(), poll_interval_s, window_days, recent_limit)
    return [
        web.get("/", h.index),
        web.get("/dashboard/assets/{name}", h.asset),
        web.get("/api/dashboard/summary", h.summary),
        web.get("/api/dashboard/positions", h.section(h.positions)),
        web.get("/api/dashboard/health", h.section(h.health)),
        web.get("/api/dashboard/orders", h.section(h.orders)),
        web.get("/api/dashboard/fills", h.section(h.fills)),
        web.get("/api/dashboard/exits", h.section(h.exits)),
        web.get("/api/dashboard/pnl-daily", h.section(h.pnl_daily)),
        web.get("/api/dashboard/account", h.section(h.account)),
        web.get("/api/dashboard/alerts", h.section(h.alerts)),
        web.get("/api/dashboard/working-orders", h.section(h.working_orders)),
        web.get("/api/dashboard/dust", h.section(h.dust)),
    ]
