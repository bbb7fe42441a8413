"""The daemon's trading parts, wired in one place: the webhook daemon and the replay both build them here.

`build_trading_core` creates the FIFO ledger and positions, the fill recorder and processor, the order
and risk managers, the market cache, the trailing stops (store, writer, restored state), the
working-order desk, the exit executor, protective stops, the P&L basis, passive quoting, the exit
sentinel and the entry path (entry gate, entry facts, alert executor, alert worker), and connects
them. Callers differ only in what they pass as `Seams`: the clock, the exchange port, the signal
source, the notifier, and the daemon's guards (leader fence, fenced writes and trailing rows,
degraded mode, fill dead letters), which a replay — one process, nothing to fence, nothing lost —
runs without. Feeds, HTTP, leadership, the reconciler and the loops are the daemon's own
(webhook/daemon.py); a replay's driver calls what the loops would call (replay/driver.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.logging import get_logger
from core.position_rule import SizeRule, is_position
from core.settings import Settings
from exchange.models import Product
from fifo_engine.ledger import FifoLedger
from market_data.market_cache import MarketCache
from market_data.pnl_basis import BasisPositions, PnlBasis
from market_data.ports import SignalSource
from market_data.position_monitor import PositionMonitor
from market_data.protective_stop import ProtectiveStopManager
from market_data.trailing_store import TrailingRowStore, TrailingStore, TrailingWriter
from risk.degraded.gate import DegradedEntryGate
from risk.degraded.mode import DegradedMode
from risk.manager import RiskManager
from shared_data import product_rules
from shared_data.db import unit_of_work
from webhook.alert_executor import AlertOrderExecutor, EntryGate
from webhook.alerts.entry_context import EntryContext
from webhook.alerts.symbols import SymbolMap
from webhook.alerts.worker import AlertWorker
from webhook.exit_executor import OrderExitExecutor
from webhook.fill_dead_letters import DeadLetterEntryGate, DeadLetters
from webhook.fill_processor import FillProcessor
from webhook.fill_recorder import FillRecorder
from webhook.leadership.fence import LeaderFence
from webhook.notifications import Notifier
from webhook.order_manager import OrderManager
from webhook.passive.manager import PassiveManager
from webhook.passive.sentinel_view import SentinelPositions
from webhook.positions import PositionBook
from webhook.working_orders.desk import WorkingOrderDesk

log = get_logger(__name__)


@dataclass
class Seams:
    """What a caller substitutes. The daemon: wall clock, its exchange (monitored for degraded mode),
    the shared_data listener, its notifier, and its guards. A replay: virtual clock, the in-process
    venue, precomputed signals, a silent notifier, no guards."""

    clock: Clock
    exchange: Any  # ExchangePort: reads and the order manager's sends
    signals: SignalSource  # the sentinel's matrix rows (and passive quoting's ATR)
    notifier: Notifier
    # Direct exchange writes (re-price cancels, edits, protective stops, passive quotes) behind the
    # leader check, given the order manager whose epoch check they use; None: the exchange itself.
    fenced_writes: Callable[[OrderManager], Any] | None = None
    fence: LeaderFence | None = None  # the order manager's leader check in each order row's transaction
    fenced_rows: Callable[[TrailingStore], TrailingRowStore] | None = None  # trailing rows behind the fence
    on_unknown_outcome: Callable[[], object] | None = None  # an order send of unknown outcome (reconciler)
    degraded: DegradedMode | None = None  # no entries (and only protective bypass moves) while degraded
    dead_letters: DeadLetters | None = None  # unrecordable fills parked; their products take no entries
    restore_trailing: bool = False  # load the trailing stops of open positions (a leader at start-up)


@dataclass
class TradingCore:
    catalog: dict[str, Product]
    products: list[str]  # the tradable USD/USDC products after the allow and deny lists
    ledger: FifoLedger
    positions: PositionBook
    recorder: FillRecorder
    fills: FillProcessor
    orders: OrderManager
    risk: RiskManager
    cache: MarketCache
    trailing_store: TrailingStore
    writer: TrailingWriter
    desk: WorkingOrderDesk
    exits: OrderExitExecutor
    protective: ProtectiveStopManager | None
    basis: BasisPositions
    passive: PassiveManager
    monitor: PositionMonitor
    symbols: SymbolMap
    alert_exec: AlertOrderExecutor
    worker: AlertWorker


async def build_trading_core(settings: Settings, sessions: async_sessionmaker[AsyncSession],
                             seams: Seams) -> TradingCore:
    clock, rest, notifier = seams.clock, seams.exchange, seams.notifier
    degraded, dead_letters = seams.degraded, seams.dead_letters
    async with sessions() as session:
        ledger = await FifoLedger.load(session, settings)
    catalog: dict[str, Product] = {p.product_id: p for p in await rest.get_products()}
    async with unit_of_work(sessions) as session:  # SQL readers (views, sighook) use the same position rule
        await product_rules.record(session, catalog.values(), clock.now())
    positions = PositionBook(ledger, sellable=lambda symbol, size: sellable(catalog, symbol, size), clock=clock)
    recorder = FillRecorder(sessions, ledger, clock.now, dead_letters, settings.fill_record_attempts)
    fills = FillProcessor(rest, recorder, fills_lag_retry_s=settings.fills_lag_retry_s)
    orders = OrderManager(rest, sessions, settings, clock, on_unknown_outcome=seams.on_unknown_outcome,
                          fence=seams.fence)
    risk = RiskManager(sessions, settings, clock=clock, notifier=notifier)
    await risk.load()
    cache = MarketCache()
    trailing_store = TrailingStore(sessions, clock)
    # A standby must not touch the rows (restore deletes those of closed positions); it restores on takeover.
    trailing = await trailing_store.restore([p.symbol for p in positions.open_positions()]) \
        if seams.restore_trailing else {}
    for ts in trailing.values():  # what came back, exactly (the crash soak compares it with the rows)
        log.info("trailing_stop_restored", symbol=ts.symbol, state=ts.state.value,
                 highest_price=format(ts.highest_price, "f"),
                 current_stop=None if ts.current_stop is None else format(ts.current_stop, "f"),
                 update_count=ts.update_count,
                 activated_at=None if ts.activated_at is None else ts.activated_at.isoformat())
    writer = TrailingWriter(seams.fenced_rows(trailing_store) if seams.fenced_rows else trailing_store)
    # Working orders (issue #19): post-only entries and resting exits, owned by one desk.
    # Writers that call the port directly (re-price cancels, edits, brackets, protective stops) pass
    # the leader-epoch check too; orders through the order manager are checked in their row's transaction.
    writes = seams.fenced_writes(orders) if seams.fenced_writes else rest
    desk = WorkingOrderDesk(writes, orders, sessions, settings, clock, settle=fills.process_order)
    exits = OrderExitExecutor(orders, rest, sessions, settle_order=fills.process_order, clock=clock, resting=desk)
    # The exchange-side mirror of each trailing stop, when enabled (PROTECTIVE_STOP_ENABLED).
    protective = ProtectiveStopManager(writes, settings, clock, degraded=lambda: degraded is not None
                                       and degraded.active) if settings.protective_stop_enabled else None
    # EXIT_PNL_BASIS: the sentinel measures every threshold from the basis price (market_data/pnl_basis.py).
    basis = BasisPositions(positions, PnlBasis(settings.exit_pnl_basis), await orders.taker_fee_rate())
    # Passive market making (issue #20), off unless PASSIVE_PRODUCTS is set: positions under its
    # brackets are the exchange's to exit, so the sentinel sees them only once handed over.
    # Its bids are entries: no quotes while a breaker is tripped, while degraded, or while any product
    # has unrecorded fills (the same gates as the alert path's entries).
    passive = PassiveManager(writes, orders, sessions, settings, clock, settle=fills.process_order,
                             notify=notifier.notify,
                             breaker_tripped=lambda: _passive_blocked(risk, degraded, dead_letters),
                             position_size=positions.size_of, atr=lambda s: _atr(seams.signals, s))
    sentinel_view = SentinelPositions(basis, passive.owns, lambda: passive.enabled)
    monitor = PositionMonitor(settings, cache, sentinel_view, seams.signals, exits,
                              notifier, clock=clock, writer=writer, trailing=trailing, protective=protective)
    desk.set_exit_listener(lambda symbol, filled: monitor.exit_finished(symbol, filled=filled),
                           positions.working_exit_counter(risk, sessions))
    recorder.on_order_recorded(positions.exit_watcher(monitor, risk, sessions, owned=desk.owns))

    products = market_products(settings, list(catalog.values()))
    # No entries while degraded, nor where fills are unrecorded; then the risk rules.
    entry_gate: EntryGate = risk
    if degraded is not None:
        entry_gate = DegradedEntryGate(entry_gate, degraded)
    if dead_letters is not None:
        entry_gate = DeadLetterEntryGate(entry_gate, dead_letters)
    entry_facts = EntryContext(rest, sessions, cache, clock, positions.account_value(cache), orders.product,
                               orders.taker_fee_rate, orders.maker_fee_rate)
    # What is ordered: the one sizing function (#16); how it is placed: the working-order desk (#19).
    alert_exec = AlertOrderExecutor(orders, entry_gate, settings, entry_facts, position_size=positions.size_of,
                                    notifier=notifier, entries=desk)
    worker = AlertWorker(sessions, alert_exec, clock)
    return TradingCore(catalog=catalog, products=products, ledger=ledger, positions=positions, recorder=recorder,
                       fills=fills, orders=orders, risk=risk, cache=cache, trailing_store=trailing_store,
                       writer=writer, desk=desk, exits=exits, protective=protective, basis=basis, passive=passive,
                       monitor=monitor, symbols=SymbolMap.from_products(products), alert_exec=alert_exec,
                       worker=worker)


def sellable(catalog: dict[str, Product], symbol: str, size: Decimal) -> bool:
    """The one definition of a position (core/position_rule.py); below it is dust."""
    product = catalog.get(symbol)
    return is_position(size, None if product is None else SizeRule(product.base_increment, product.base_min_size))


def market_products(settings: Settings, products: list[Product]) -> list[str]:
    ids = [p.product_id for p in products if p.quote_currency in ("USD", "USDC") and p.tradable]
    if settings.product_allow_list:
        ids = [p for p in ids if p in settings.product_allow_list]
    return sorted(p for p in ids if p not in settings.product_deny_list)


def _atr(signals: SignalSource, symbol: str) -> Decimal | None:
    view = signals.signal(symbol)
    return None if view is None else view.atr


async def _passive_blocked(risk: RiskManager, degraded: DegradedMode | None,
                           dead_letters: DeadLetters | None) -> bool:
    if (degraded is not None and degraded.active) or (dead_letters is not None and dead_letters.blocked_symbols()):
        return True
    return (await risk.state()).entries_blocked
