"""A DashboardData built from real database rows (open lots → positions), and a real aiohttp server
on 127.0.0.1 serving the dashboard routes. Used by the API test and the headless-browser test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ManualClock
from core.enums import Side
from core.settings import Settings, load_settings
from reports.dashboard import (
    BreakerStatus,
    FeedStatus,
    HealthSnapshot,
    PositionSnapshot,
    TrailingSnapshot,
    dashboard_routes,
)
from reports.queries import load_open_lots, open_positions
from tests.integration.reports.scenario import write_all, write_history
from tests.unit.reports.session import START
from tests.unit.reports.vectors import F

D = Decimal
# A position the daemon holds: 0.5 BTC bought at 100 (fee 0.25), a day after the scripted session.
OPEN_BUY = F("fill-buy-open", "buy-open", "BTC-USD", Side.BUY, D("100"), D("0.5"), D("0.25"),
             START + timedelta(days=7))
NOW = START + timedelta(days=8)


def dashboard_settings() -> Settings:
    """The thresholds the assertions use, whatever the environment says."""
    return load_settings(
        tax_timezone="America/New_York", trading_mode="paper", stop_loss_hard_pct=D(-5), stop_loss_soft_pct=D("-2.5"),
        take_profit_pct=D("6.25"), trailing_activation_pct=D("3.5"), trailing_min_distance_pct=D(1),
        trailing_max_distance_pct=D(2), quote_max_age_s=10.0,
    )


@dataclass
class DbDashboardData:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    last_prices: dict[str, Decimal]
    trailing: dict[str, TrailingSnapshot] = field(default_factory=dict)
    health_snapshot: HealthSnapshot = field(default_factory=HealthSnapshot)

    async def positions(self) -> Sequence[PositionSnapshot]:
        async with self.sessions() as s:
            lots = await load_open_lots(s)
        return [
            PositionSnapshot(
                symbol=p.symbol, size=p.size, entry_price=p.entry_price, last_price=self.last_prices.get(p.symbol),
                quote_age_s=0.8 if p.symbol in self.last_prices else None, cost_basis_usd=p.cost_basis_usd,
                opened_at=p.opened_at, trailing=self.trailing.get(p.symbol, TrailingSnapshot(state="inactive")),
            )
            for p in open_positions(lots)
        ]

    async def health(self) -> HealthSnapshot:
        return self.health_snapshot


async def write_dashboard_history(sessions: async_sessionmaker[AsyncSession]) -> None:
    await write_all(sessions)
    await write_history(sessions, [OPEN_BUY], [])


def dashboard_data(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> DbDashboardData:
    return DbDashboardData(
        settings=settings,
        sessions=sessions,
        last_prices={"BTC-USD": D("103.2"), "ABC-USD": D("118.5")},
        trailing={"ABC-USD": TrailingSnapshot(state="active", current_stop=D("116"), highest_price=D("121"),
                                              atr=D("1.2"))},
        health_snapshot=HealthSnapshot(
            breakers=(BreakerStatus("daily_loss", False), BreakerStatus("consecutive_losses", False)),
            feeds=(FeedStatus("ticker websocket", True, 0.4), FeedStatus("user websocket", True, 2.1),
                   FeedStatus("rest", True, None, "simulator")),
        ),
    )


@asynccontextmanager
async def serve(data: DbDashboardData, poll_interval_s: float = 2.0) -> AsyncIterator[str]:
    """Serve the dashboard on 127.0.0.1 (any free port); yields the base URL."""
    app = web.Application()
    app.add_routes(dashboard_routes(data, clock=ManualClock(NOW), poll_interval_s=poll_interval_s))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
