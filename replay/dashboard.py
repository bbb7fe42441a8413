"""`python main.py replay-dashboard DATABASE`: the daemon's dashboard over a replay's database.

The dashboard (reports/dashboard) reads orders, fills, exits by reason and daily P&L from the
database itself; what a running daemon adds — open positions with their last price, breakers, feed
health — comes here from the replay's database too: open FIFO lots (priced at their entry: the
replay's last prices are in report.json), the breaker rows, and no feeds. Its clock is frozen at the
replay's last fill, so "the last 30 days" are the replay's last 30 days. Read-only, loopback only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from replay.clock import VirtualClock
from reports.dashboard.data import BreakerStatus, HealthSnapshot, PositionSnapshot
from reports.dashboard.routes import dashboard_routes
from reports.queries import load_open_lots, open_positions
from shared_data.models import Fill, RiskState


class ReplayDashboardData:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._settings = settings
        self._sessions = sessions

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    async def positions(self) -> Sequence[PositionSnapshot]:
        async with self._sessions() as session:
            held = open_positions(await load_open_lots(session))
        return [PositionSnapshot(symbol=p.symbol, size=p.size, entry_price=p.entry_price, last_price=p.entry_price,
                                 cost_basis_usd=p.cost_basis_usd, opened_at=p.opened_at) for p in held]

    async def health(self) -> HealthSnapshot:
        async with self._sessions() as session:
            rows = (await session.execute(select(RiskState).order_by(RiskState.breaker))).scalars().all()
        breakers = [BreakerStatus(name=r.breaker, tripped=r.tripped, reason=r.reason, tripped_at=r.tripped_at)
                    for r in rows]
        return HealthSnapshot(breakers=breakers, feeds=(), entries_halted=any(b.tripped for b in breakers))


async def last_fill_time(sessions: async_sessionmaker[AsyncSession]) -> datetime:
    async with sessions() as session:
        last = (await session.execute(select(func.max(Fill.trade_time)))).scalar_one_or_none()
    return last or datetime.now(UTC)


async def build_app(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> web.Application:
    clock = VirtualClock(await last_fill_time(sessions))
    app = web.Application()
    app.router.add_routes(dashboard_routes(ReplayDashboardData(settings, sessions), clock=clock))
    return app


async def serve(settings: Settings, database: str, port: int, stop: asyncio.Event | None = None) -> int:
    from shared_data.db import create_engine, session_factory, with_database
    from shared_data.migrate import ensure_at_head

    if settings.database_url is None:
        print("bottrader replay-dashboard: set DATABASE_URL to the server the replay ran on", flush=True)
        return 2
    url = with_database(settings.database_url.get_secret_value(), database)
    await ensure_at_head(url)
    engine = create_engine(url, pool_size=2)
    runner = web.AppRunner(await build_app(settings, session_factory(engine)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    print(f"dashboard of {database}: http://127.0.0.1:{port}/ (Ctrl-C stops)", flush=True)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.cleanup()
        await engine.dispose()
    return 0
