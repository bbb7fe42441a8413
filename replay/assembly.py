"""The daemon's own components, wired for a replay: one virtual clock, the in-process venue, no sockets.

The parts are built by `webhook.trading_core.build_trading_core`, the function the daemon builds its
own with (FIFO ledger, positions, fill recorder and processor, order manager, risk manager, market
cache, trailing stops, working-order desk, exit executor, protective stops, exit sentinel, alert
worker and executor), with three substitutions: the Clock is the replay's VirtualClock, the
ExchangePort is `InProcessExchange`, and the SignalSource is the precomputed matrix
(`ReplaySignals`) instead of the shared_data listener. The daemon's guards are left out — leader
fence, fenced writes and trailing rows, degraded mode and its entry gate, fill dead letters: one
process, a venue that never fails a call, nothing to fence. No loop is started: the driver
(replay/driver.py) calls what the loops would call, in virtual time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.settings import Settings
from fifo_engine.ledger import FifoLedger
from market_data.market_cache import MarketCache
from market_data.ports import SignalView
from market_data.position_monitor import PositionMonitor
from market_data.trailing_store import TrailingWriter
from replay.clock import VirtualClock
from replay.signals import SignalTable
from replay.venue import InProcessExchange
from risk.manager import RiskManager
from shared_data.db import session_factory
from webhook.alerts.symbols import SymbolMap
from webhook.alerts.worker import AlertWorker
from webhook.fill_processor import FillProcessor
from webhook.fill_recorder import FillRecorder
from webhook.notifications import Notifier
from webhook.order_manager import OrderManager
from webhook.positions import PositionBook
from webhook.trading_core import Seams, build_trading_core
from webhook.working_orders.desk import WorkingOrderDesk


class ReplaySignals:
    """SignalSource: the matrix row of each product's latest closed candle.

    A live sighook republishes the matrix every SIGHOOK_INTERVAL_S over the same closed candles, so
    the row's `as_of` is the last cycle before now — never older than one interval.
    """

    def __init__(self, tables: dict[str, SignalTable], clock: VirtualClock, interval_s: float) -> None:
        self._tables = tables
        self._clock = clock
        self._interval = timedelta(seconds=interval_s)
        self._current: dict[str, tuple[int, datetime]] = {}  # symbol → (row, when the candle closed)
        # symbol → the current row's last view and when its interval ends (dropped when the row changes)
        self._views: dict[str, tuple[datetime, SignalView | None]] = {}

    def closed(self, symbol: str, row: int, at: datetime) -> None:
        current = self._current.get(symbol)
        if current is None or current[0] != row:
            self._views.pop(symbol, None)
        self._current[symbol] = (row, at)

    def signal(self, symbol: str) -> SignalView | None:
        """Asked on every tick of a held product (and by the sweep): while the clock stays inside the interval
        of the view built last, that same value (the sentinel compares it), looked up and nothing else. The
        clock never goes backwards, so a view built at or after its `as_of` holds until its interval ends."""
        now = self._clock.now()
        last = self._views.get(symbol)
        if last is not None and now < last[0]:
            return last[1]
        current = self._current.get(symbol)
        if current is None:
            return None
        row, closed_at = current
        as_of = closed_at + ((now - closed_at) // self._interval) * self._interval
        view = self._tables[symbol].view(row, as_of)
        self._views[symbol] = (as_of + self._interval, view)
        return view


@dataclass
class Parts:
    sessions: async_sessionmaker[AsyncSession]
    ledger: FifoLedger
    positions: PositionBook
    recorder: FillRecorder
    fills: FillProcessor
    orders: OrderManager
    risk: RiskManager
    cache: MarketCache
    writer: TrailingWriter
    monitor: PositionMonitor
    worker: AlertWorker
    symbols: SymbolMap
    signals: ReplaySignals
    desk: WorkingOrderDesk


async def assemble(settings: Settings, engine: AsyncEngine, venue: InProcessExchange, clock: VirtualClock,
                   tables: dict[str, SignalTable]) -> Parts:
    sessions = session_factory(engine)
    notifier = Notifier([], settings.notify_min_interval_s, clock)  # a replay never messages the user
    signals = ReplaySignals(tables, clock, settings.sighook_interval_s)
    core = await build_trading_core(settings, sessions, Seams(clock=clock, exchange=venue, signals=signals,
                                                              notifier=notifier))
    core.monitor.attach()  # the market cache's listener: the sentinel evaluates each tick (live: its loop does)
    return Parts(sessions=sessions, ledger=core.ledger, positions=core.positions, recorder=core.recorder,
                 fills=core.fills, orders=core.orders, risk=core.risk, cache=core.cache, writer=core.writer,
                 monitor=core.monitor, worker=core.worker, symbols=core.symbols, signals=signals, desk=core.desk)
