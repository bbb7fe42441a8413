"""The daemon's own components, wired for a replay: one virtual clock, the in-process venue, no sockets.

This mirrors `webhook.daemon.assemble` part for part — FIFO ledger, positions, fill recorder and
processor, order manager, risk manager, market cache, trailing stops (store and writer), exit
executor, exit sentinel, alert worker and executor — with three substitutions: the Clock is the
replay's VirtualClock, the ExchangePort is `InProcessExchange`, and the SignalSource is the
precomputed matrix (`ReplaySignals`) instead of the shared_data listener. No loop is started:
the driver (replay/driver.py) calls what the loops would call, in virtual time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.settings import Settings
from fifo_engine.ledger import FifoLedger
from market_data.market_cache import MarketCache
from market_data.pnl_basis import BasisPositions, PnlBasis
from market_data.ports import SignalView
from market_data.position_monitor import PositionMonitor
from market_data.trailing_store import TrailingStore, TrailingWriter
from replay.clock import VirtualClock
from replay.signals import SignalTable
from replay.venue import InProcessExchange
from risk.manager import RiskManager
from shared_data.db import session_factory
from webhook.alert_executor import AlertOrderExecutor
from webhook.alerts.entry_context import EntryContext
from webhook.alerts.symbols import SymbolMap
from webhook.alerts.worker import AlertWorker
from webhook.daemon import _sellable
from webhook.exit_executor import OrderExitExecutor
from webhook.fill_processor import FillProcessor
from webhook.fill_recorder import FillRecorder
from webhook.notifications import Notifier
from webhook.order_manager import OrderManager
from webhook.positions import PositionBook
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
        self._views: dict[str, tuple[int, datetime, SignalView | None]] = {}  # the last view built, per symbol

    def closed(self, symbol: str, row: int, at: datetime) -> None:
        self._current[symbol] = (row, at)

    def signal(self, symbol: str) -> SignalView | None:
        current = self._current.get(symbol)
        if current is None:
            return None
        row, closed_at = current
        now = self._clock.now()
        as_of = closed_at + ((now - closed_at) // self._interval) * self._interval
        last = self._views.get(symbol)
        if last is not None and last[0] == row and last[1] == as_of:
            return last[2]  # the same value, not rebuilt on every tick (the sentinel compares it)
        view = self._tables[symbol].view(row, as_of)
        self._views[symbol] = (row, as_of, view)
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
    async with sessions() as session:
        ledger = await FifoLedger.load(session, settings)
    catalog = {p.product_id: p for p in await venue.get_products()}
    positions = PositionBook(ledger, sellable=lambda symbol, size: _sellable(catalog, symbol, size), clock=clock)
    recorder = FillRecorder(sessions, ledger, clock.now)
    taker_rate = (await venue.get_fee_tier()).taker_rate
    fills = FillProcessor(venue, recorder, fills_lag_retry_s=settings.fills_lag_retry_s)
    orders = OrderManager(venue, sessions, settings, clock)
    risk = RiskManager(sessions, settings, clock=clock, notifier=notifier)
    await risk.load()
    cache = MarketCache()
    writer = TrailingWriter(TrailingStore(sessions, clock))
    # The daemon's working-order desk places entries (and would rest exits) exactly as live.
    desk = WorkingOrderDesk(venue, orders, sessions, settings, clock, settle=fills.process_order)
    exits = OrderExitExecutor(orders, venue, sessions, settle_order=fills.process_order, clock=clock, resting=desk)
    signals = ReplaySignals(tables, clock, settings.sighook_interval_s)
    # EXIT_PNL_BASIS, as the daemon: every threshold measured from the basis price (market_data/pnl_basis.py).
    basis = BasisPositions(positions, PnlBasis(settings.exit_pnl_basis), taker_rate)
    monitor = PositionMonitor(settings, cache, basis, signals, exits, notifier, clock=clock, writer=writer)
    desk.set_exit_listener(lambda symbol, filled: monitor.exit_finished(symbol, filled=filled),
                           positions.working_exit_counter(risk, sessions))
    recorder.on_order_recorded(positions.exit_watcher(monitor, risk, sessions, owned=desk.owns))
    monitor.attach()
    symbols = SymbolMap.from_products(sorted(catalog))
    # The daemon's one sizing function on live facts (issue #16), then its risk checks and order manager.
    entry_facts = EntryContext(venue, sessions, cache, clock, positions.account_value(cache, venue), orders.product,
                               orders.taker_fee_rate,
                               orders.maker_fee_rate)
    alert_exec = AlertOrderExecutor(orders, risk, settings, entry_facts, position_size=positions.size_of,
                                    notifier=notifier, entries=desk)
    worker = AlertWorker(sessions, alert_exec, clock)
    return Parts(sessions=sessions, ledger=ledger, positions=positions, recorder=recorder, fills=fills, orders=orders,
                 risk=risk, cache=cache, writer=writer, monitor=monitor, worker=worker, symbols=symbols,
                 signals=signals, desk=desk)
