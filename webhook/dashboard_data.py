"""The webhook daemon's live state for the dashboard (reports.dashboard.DashboardData)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import SystemClock
from core.settings import Settings
from exchange.models import Product
from exchange.port import ExchangePort
from market_data.market_cache import MarketCache
from market_data.pnl_basis import BasisPositions, PnlBasis, on_basis
from market_data.ports import base_asset
from reports.dashboard.account import CashBalance, Increments
from reports.dashboard.data import BreakerStatus, FeedStatus, HealthSnapshot, PositionSnapshot, TrailingSnapshot
from webhook.positions import PositionBook
from webhook.status import DaemonHealth


class LiveDashboardData:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], positions: PositionBook,
                 cache: MarketCache, monitor: object, health: DaemonHealth, *,
                 exchange: ExchangePort | None = None, catalog: Mapping[str, Product] | None = None,
                 basis: BasisPositions | None = None) -> None:
        self._settings = settings
        self._basis = basis  # EXIT_PNL_BASIS: thresholds and unrealized % measured from the basis price
        self._sessions = sessions
        self._positions = positions
        self._cache = cache
        self._monitor = monitor
        self._health = health
        self._clock = SystemClock()
        self._hodl = {a.upper() for a in settings.hodl_assets}
        self._exchange = exchange
        self._increments = {s: Increments(p.base_increment, p.quote_increment) for s, p in (catalog or {}).items()}

    async def cash(self) -> Sequence[CashBalance]:
        if self._exchange is None:
            return []
        balances = await self._exchange.get_balances()
        return [CashBalance(c, b.available, b.hold) for c, b in balances.items()]

    def increments(self) -> Mapping[str, Increments]:
        return self._increments

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    async def positions(self) -> Sequence[PositionSnapshot]:
        rows = []
        now = self._clock.monotonic()
        for p in self._positions.open_positions():
            quote = self._cache.get(p.symbol)
            stop = getattr(self._monitor, "trailing_stop", lambda _s: None)(p.symbol)
            trailing = None if stop is None else TrailingSnapshot(
                state=stop.state.value, current_stop=stop.current_stop, highest_price=stop.highest_price,
                atr=stop.atr, stop_order_id=stop.stop_order_id, activated_at=stop.activated_at)
            assert p.avg_entry_price is not None  # open_positions() only returns priced positions
            entry, cost = p.avg_entry_price, p.cost_basis_usd
            if self._basis is not None and self._basis.basis is PnlBasis.NET:
                entry = on_basis(p, self._basis.basis, self._basis.exit_fee_rate).avg_entry_price
                cost = entry * p.size  # unrealized % = move from the break-even price, as the sentinel sees it
            rows.append(PositionSnapshot(
                symbol=p.symbol, size=p.size, entry_price=entry,
                last_price=quote.price if quote else None, quote_age_s=quote.age(now) if quote else None,
                cost_basis_usd=cost, opened_at=p.opened_at, hodl=base_asset(p.symbol) in self._hodl,
                trailing=trailing))
        return rows

    async def health(self) -> HealthSnapshot:
        report = await self._health.health()
        state = await self._health.risk_state()
        breakers = [BreakerStatus(name=b.value, tripped=s.tripped, reason=s.reason, tripped_at=s.tripped_at)
                    for b, s in state.breakers.items()] if state is not None else []
        feeds = [
            FeedStatus("market websocket", bool(report.details.get("market_feed")), report.websocket_age_s),
            FeedStatus("user websocket", bool(report.details.get("user_feed")), None),
            FeedStatus("database", report.database_ok, None),
            FeedStatus("buy_sell_matrix", report.matrix_age_s is not None
                       and report.matrix_age_s <= self._settings.matrix_max_age_s, report.matrix_age_s),
        ]
        # Emergencies (unrecorded fills, crash-looping loops) show as failed rows, red like a dead feed.
        feeds += [FeedStatus(problem, False, None) for problem in report.problems]
        degraded = report.details.get("degraded_mode") or {}
        if degraded:  # shown as a breaker: it stops entries like one (issue #21)
            since = degraded.get("since")
            breakers.append(BreakerStatus(name="degraded_mode", tripped=bool(degraded.get("active")),
                                          reason=degraded.get("cause"),
                                          tripped_at=datetime.fromisoformat(since) if since else None))
        return HealthSnapshot(breakers=breakers, feeds=feeds,
                              entries_halted=report.halted or bool(degraded.get("active")))
