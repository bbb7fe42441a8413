"""The webhook process: the single executor of orders, assembled from its parts and supervised.

Loops (each restarted with backoff if it dies): market and user WebSocket feeds, the fill
processor, the reconciler, the exit sentinel and its trailing-stop writer, the alert worker, and the
shared-state listener (buy_sell_matrix). The HTTP server (alerts, health, metrics, dashboard) runs
beside them. SIGTERM: stop accepting alerts, let in-flight orders finish (bounded), exit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from core.alert_secret import with_paper_admin_token, with_paper_secret
from core.clock import SystemClock
from core.logging import get_logger, redactor
from core.metrics import MARKET_LAST_TICK, MARKET_TICKS, OPEN_POSITIONS
from core.position_rule import SizeRule, is_position
from core.settings import Settings
from exchange.coinbase import build_feed
from exchange.coinbase.ws_feed import WsFeed
from exchange.coinbase.ws_protocol import Ticker, UserOrderUpdate, UserSnapshotBatch
from exchange.models import Product
from exchange.monitored import MonitoredExchange
from fifo_engine.ledger import FifoLedger
from market_data.market_cache import MarketCache
from market_data.pnl_basis import BasisPositions, PnlBasis
from market_data.position_monitor import PositionMonitor
from market_data.protective_stop import ProtectiveStopManager
from market_data.trailing_store import TrailingStore, TrailingWriter
from reports.dashboard.events import event_routes
from reports.dashboard.routes import dashboard_routes
from risk.degraded.gate import DegradedEntryGate
from risk.degraded.mode import DegradedMode
from risk.degraded.store import DegradedStore
from risk.manager import RiskManager
from shared_data import product_rules
from shared_data.db import create_engine, session_factory, unit_of_work
from shared_data.event_store import EventRetention
from shared_data.shared_state import SharedStateListener
from webhook.account_check import identify, verify_account
from webhook.alert_executor import AlertOrderExecutor
from webhook.alerts.entry_context import EntryContext
from webhook.alerts.symbols import SymbolMap
from webhook.alerts.worker import AlertWorker
from webhook.dashboard_data import LiveDashboardData
from webhook.exchange_runtime import ExchangeRuntime, open_exchange
from webhook.exit_executor import OrderExitExecutor
from webhook.fill_dead_letters import DeadLetterEntryGate, DeadLetters
from webhook.fill_processor import FillProcessor
from webhook.fill_recorder import FillRecorder
from webhook.http.access import OperatorGuard
from webhook.http.app import build_app
from webhook.http.deps import HttpDeps
from webhook.leadership import LeadershipGate
from webhook.leadership.alert_wake import CHANNEL as ALERT_WAKE_CHANNEL
from webhook.leadership.alert_wake import AlertWake
from webhook.leadership.fenced_exchange import FencedWrites
from webhook.leadership.fenced_rows import FencedTrailingRows
from webhook.leadership.standby_view import StandbyView
from webhook.leadership.takeover import TakeoverSteps
from webhook.notifications import Notifier
from webhook.order_manager import OrderManager
from webhook.order_updates import OrderPrompt
from webhook.passive.manager import PassiveManager
from webhook.passive.sentinel_view import SentinelPositions
from webhook.positions import PositionBook
from webhook.ready_announce import announce_ready
from webhook.reconciler import Reconciler
from webhook.status import DaemonHealth, RiskAdmin
from webhook.supervisor import Supervisor
from webhook.trailing_health import TrailingHistoryHealth
from webhook.working_orders.desk import WorkingOrderDesk

log = get_logger(__name__)

SHUTDOWN_GRACE_S = 20.0


@dataclass
class WebhookDaemon:
    settings: Settings
    exchange: ExchangeRuntime
    components: dict[str, Any] = field(default_factory=dict)
    alert_url: str = ""
    runner: web.AppRunner | None = None


async def run_webhook(settings: Settings, db_url: str, stop: asyncio.Event) -> None:
    await _run(settings, db_url, stop, with_sighook=False)


async def run_both(settings: Settings, db_url: str, stop: asyncio.Event) -> None:
    await _run(settings, db_url, stop, with_sighook=True)


def _with_alert_secret(settings: Settings) -> tuple[Settings, Path | None]:
    """Paper runs without WEBHOOK_SECRETS use the secret in WEBHOOK_SECRET_FILE (created on first use)."""
    settings, path, created = with_paper_secret(settings)
    if path is not None:
        redactor.add(*settings.webhook_secret_list())
        log.info("webhook_secret_file", path=str(path), created=created)
    settings, token_path = with_paper_admin_token(settings)
    if token_path is not None:
        redactor.add(settings.admin_token.get_secret_value())
        log.info("admin_token_file", path=str(token_path))
    return settings, path


async def _run(settings: Settings, db_url: str, stop: asyncio.Event, *, with_sighook: bool) -> None:
    settings, secret_file = _with_alert_secret(settings)
    engine = create_engine(db_url, pool_size=settings.db_pool_size,
                           statement_timeout_ms=settings.db_statement_timeout_ms,
                           connect_timeout_s=settings.db_connect_timeout_s)
    exchange = await open_exchange(settings)
    listener = SharedStateListener(db_url, matrix_max_age_s=settings.matrix_max_age_s)
    runner: web.AppRunner | None = None
    try:
        # Before anything is read for trading or written: is this database this account's?
        await verify_account(session_factory(engine), await identify(settings, exchange.rest, exchange.config.api_key))
        parts = await assemble(settings, db_url, engine, exchange, listener, stop)
        runner = parts["runner"]
        supervisor: Supervisor = parts["supervisor"]
        if with_sighook:
            from sighook.daemon import run_sighook

            sighook_settings = settings.model_copy(update={"sighook_webhook_url": parts["alert_url"]})
            supervisor.add("sighook", lambda s: run_sighook(sighook_settings, db_url, s, exchange=exchange.rest))
        log.info("webhook_ready", alert_url=parts["alert_url"], positions=len(parts["positions"].open_positions()),
                 role=parts["leadership"].role.value)
        announce_ready(settings, db_url, exchange, parts, "both" if with_sighook else "webhook", secret_file)
        run_task = asyncio.create_task(supervisor.run())
        fifo_check = asyncio.create_task(_startup_fifo_check(parts["sessions"], settings, parts["notifier"]))
        await stop.wait()
        # Stop taking alerts first; loops see `stop` and finish their current unit of work.
        if runner is not None:
            await runner.cleanup()
            runner = None
        fifo_check.cancel()
        try:
            await asyncio.wait_for(run_task, timeout=SHUTDOWN_GRACE_S)
        except TimeoutError:
            log.warning("shutdown_grace_exceeded", seconds=SHUTDOWN_GRACE_S)
    finally:
        if runner is not None:
            await runner.cleanup()
        await listener.stop()
        await exchange.close()
        await engine.dispose()


async def assemble(settings: Settings, db_url: str, engine: Any, exchange: ExchangeRuntime,
                   listener: SharedStateListener, stop: asyncio.Event) -> dict[str, Any]:
    """Build every component and register the loops; returns them by name (tests use this too)."""
    clock = SystemClock()
    sessions = session_factory(engine)
    notifier = Notifier(settings.notify_url_list(), settings.notify_min_interval_s, clock)
    # One order writer per account (issue #24): decided before any state is loaded.
    leadership = LeadershipGate(db_url, clock, lease_s=settings.leader_lease_s,
                                retry_interval_s=settings.leader_retry_interval_s)
    await leadership.start()
    # Degraded mode hears every exchange call the daemon makes (issue #21).
    degraded = DegradedMode(settings, DegradedStore(sessions), notifier, clock)
    await degraded.load()
    rest: Any = MonitoredExchange(exchange.rest, degraded)
    async with sessions() as session:
        ledger = await FifoLedger.load(session, settings)
    catalog = {p.product_id: p for p in await rest.get_products()}
    async with unit_of_work(sessions) as session:  # SQL readers (views, sighook) use the same position rule
        await product_rules.record(session, catalog.values(), clock.now())
    positions = PositionBook(ledger, sellable=lambda symbol, size: _sellable(catalog, symbol, size), clock=clock)
    OPEN_POSITIONS.set_function(lambda: len(positions.open_positions()))
    dead_letters = DeadLetters(sessions, notifier, clock)
    await dead_letters.load()
    recorder = FillRecorder(sessions, ledger, clock.now, dead_letters, settings.fill_record_attempts)
    fills = FillProcessor(rest, recorder, fills_lag_retry_s=settings.fills_lag_retry_s)
    reconcile_wake = asyncio.Event()
    # An order whose send outcome is unknown is settled by the reconciler a few seconds later
    # (re-sending the same client_order_id), not at the next periodic run.
    orders = OrderManager(rest, sessions, settings, clock,
                          on_unknown_outcome=lambda: asyncio.get_running_loop().call_later(3.0, reconcile_wake.set),
                          fence=leadership.fence)
    reconciler = Reconciler(rest, sessions, recorder, orders, clock)
    risk = RiskManager(sessions, settings, clock=clock, notifier=notifier)
    await risk.load()

    async def fills_recorded_elsewhere(_resolved: list[Any]) -> None:
        await recorder.reload_ledger(settings)  # `fills retry` wrote them in its own process
        reconcile_wake.set()

    dead_letters.on_resolved(fills_recorded_elsewhere)
    cache = MarketCache()
    trailing_store = TrailingStore(sessions, clock)
    # A standby must not touch the rows (restore deletes those of closed positions); it restores on takeover.
    trailing = await trailing_store.restore([p.symbol for p in positions.open_positions()]) \
        if leadership.is_leader else {}
    for ts in trailing.values():  # what came back, exactly (the crash soak compares it with the rows)
        log.info("trailing_stop_restored", symbol=ts.symbol, state=ts.state.value,
                 highest_price=format(ts.highest_price, "f"),
                 current_stop=None if ts.current_stop is None else format(ts.current_stop, "f"),
                 update_count=ts.update_count,
                 activated_at=None if ts.activated_at is None else ts.activated_at.isoformat())
    writer = TrailingWriter(FencedTrailingRows(trailing_store, leadership.fence, sessions))
    # Working orders (issue #19): post-only entries and resting exits, owned by one desk.
    # Writers that call the port directly (re-price cancels, edits, brackets, protective stops) pass
    # the leader-epoch check too; orders through the order manager are checked in their row's transaction.
    fenced_rest = FencedWrites(rest, orders.ensure_leader)
    desk = WorkingOrderDesk(fenced_rest, orders, sessions, settings, clock, settle=fills.process_order)
    exits = OrderExitExecutor(orders, rest, sessions, settle_order=fills.process_order, clock=clock, resting=desk)
    # The exchange-side mirror of each trailing stop, when enabled (PROTECTIVE_STOP_ENABLED).
    protective = ProtectiveStopManager(fenced_rest, settings, clock, degraded=lambda: degraded.active) \
        if settings.protective_stop_enabled else None
    # EXIT_PNL_BASIS: the sentinel measures every threshold from the basis price (market_data/pnl_basis.py).
    basis = BasisPositions(positions, PnlBasis(settings.exit_pnl_basis), (await rest.get_fee_tier()).taker_rate)
    # Passive market making (issue #20), off unless PASSIVE_PRODUCTS is set: positions under its
    # brackets are the exchange's to exit, so the sentinel sees them only once handed over.
    # Its bids are entries: no quotes while a breaker is tripped, while degraded, or while any product
    # has unrecorded fills (the same gates as the alert path's entries).
    passive = PassiveManager(fenced_rest, orders, sessions, settings, clock, settle=fills.process_order,
                             notify=notifier.notify,
                             breaker_tripped=lambda: _passive_blocked(risk, degraded, dead_letters),
                             position_size=positions.size_of, atr=lambda s: _atr(listener, s))
    monitor = PositionMonitor(settings, cache, SentinelPositions(basis, passive.owns), listener, exits, notifier,
                              clock=clock, writer=writer, trailing=trailing, protective=protective)
    desk.set_exit_listener(lambda symbol, filled: monitor.exit_finished(symbol, filled=filled),
                           positions.working_exit_counter(risk, sessions))
    recorder.on_order_recorded(positions.exit_watcher(monitor, risk, sessions, owned=desk.owns))
    await listener.start()

    products = _market_products(settings, list(catalog.values()))
    symbols = SymbolMap.from_products(products)
    # No entries while degraded, nor where fills are unrecorded; then the risk rules.
    entry_gate = DeadLetterEntryGate(DegradedEntryGate(risk, degraded), dead_letters)
    entry_facts = EntryContext(rest, sessions, cache, clock, positions.account_value(cache, rest), orders.product,
                               orders.taker_fee_rate,
                               orders.maker_fee_rate)
    # What is ordered: the one sizing function (#16); how it is placed: the working-order desk (#19).
    alert_exec = AlertOrderExecutor(orders, entry_gate, settings, entry_facts, position_size=positions.size_of,
                                    notifier=notifier, entries=desk)
    worker = AlertWorker(sessions, alert_exec, clock)
    wake = AlertWake(leadership, worker.wake, sessions)  # a standby's alert wakes the leader's worker
    leadership.listen(ALERT_WAKE_CHANNEL, wake.on_notify)

    async def on_market_event(event: Any) -> None:
        if isinstance(event, Ticker):
            MARKET_TICKS.labels(symbol=event.product_id).inc()
            MARKET_LAST_TICK.set(clock.now().timestamp())
            cache.update(event.product_id, event.price, received_mono=clock.monotonic(), received_at=clock.now(),
                         best_bid=event.best_bid, best_ask=event.best_ask, exchange_time=event.time)

    async def on_user_event(event: Any) -> None:
        updates = event.orders if isinstance(event, UserSnapshotBatch) else [event]
        for update in updates:
            if isinstance(update, UserOrderUpdate) and leadership.is_leader:  # a standby records nothing
                log.debug("user_order_update", order_id=update.order_id, status=update.status.value,
                          cumulative_quantity=update.cumulative_quantity, snapshot=update.is_snapshot)
                fills.on_update(OrderPrompt(update.order_id, update.status.value, update.cumulative_quantity))

    async def on_outage(seconds: float) -> None:
        await notifier.notify("websocket_down", f"exchange WebSocket down for {seconds:.0f} s")

    def wake_reconciler(_reason: str) -> None:
        reconcile_wake.set()

    market_feed = build_feed(exchange.config, "market", ["ticker", "heartbeats"], products, on_market_event, stop,
                             on_reconcile=None, on_outage=on_outage)
    user_feed = build_feed(exchange.config, "user", ["user", "heartbeats"], products, on_user_event, stop,
                           on_reconcile=wake_reconciler, on_outage=on_outage)
    supervisor = Supervisor(stop, clock=clock, crash_loop_restarts=settings.crash_loop_restarts,
                            crash_loop_window_s=settings.crash_loop_window_s)
    history = TrailingHistoryHealth(sessions, cache, monitor.trailing_stops, clock, settings.quote_max_age_s)
    health = DaemonHealth(engine, market_feed, user_feed, listener, risk, monitor, writer, history,
                          degraded=degraded, protective=protective,
                          emergencies=lambda: (dead_letters.problems() + supervisor.problems(),
                                               {"unrecorded_fills": dead_letters.summary()}),
                          leadership=leadership)
    deps = HttpDeps(settings=settings, sessions=sessions, health=health, admin=RiskAdmin(risk), symbols=symbols,
                    clock=clock, wake=wake)
    app = build_app(deps)
    # The dashboard shows positions and P&L: operators only (loopback or ADMIN_TOKEN), like /metrics.
    dashboard = dashboard_routes(LiveDashboardData(settings, sessions, positions, cache, monitor, health,
                                                   exchange=rest, catalog=catalog, basis=basis))
    app.router.add_routes(OperatorGuard(settings).protect(dashboard))
    app.router.add_routes(OperatorGuard(settings).protect(event_routes(sessions)))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
    await site.start()
    port = _bound_port(runner)
    host = "127.0.0.1" if settings.webhook_host in ("0.0.0.0", "::") else settings.webhook_host
    alert_url = f"http://{host}:{port}/webhook"

    supervisor.add("market_feed", lambda s: _feed_run(market_feed))
    supervisor.add("user_feed", lambda s: _feed_run(user_feed))
    supervisor.add("degraded_mode", degraded.run)
    leadership.add("degraded_probe", lambda s: degraded.probe(s, lambda: _probe_family(rest, degraded, products),
                                                               settings.degraded_probe_interval_s))
    # Everything that writes to the exchange (or to trading state) runs in the leader only; a standby
    # keeps its feeds and caches warm and serves /webhook, /health and the dashboard (issue #24).
    leadership.add("fill_processor", fills.run)
    leadership.add("reconciler", lambda s: reconciler.run(
        s, reconcile_wake, lambda: degraded.reconcile_interval_s(settings.reconcile_interval_s)))
    leadership.add("sentinel", monitor.run)
    leadership.add("trailing_writer", writer.run)
    leadership.add("event_retention", EventRetention(sessions, settings.event_retention_days, clock).run)
    leadership.add("alert_worker", worker.run)
    leadership.add("dead_letters", lambda s: dead_letters.run(s, settings.fill_dead_letter_watch_s))
    leadership.add("working_orders", desk.run)
    if passive.enabled:  # a loop that returns would be restarted
        leadership.add("passive", passive.run)
    leadership.on_takeover(TakeoverSteps(sessions, settings, ledger, positions, risk, reconciler, trailing_store,
                                         monitor, clock, acquired_mono=lambda: leadership.acquired_mono))
    supervisor.add("leadership", leadership.run)
    supervisor.add("standby_view", StandbyView(sessions, settings, ledger, positions, leadership).run)
    return {
        "sessions": sessions, "ledger": ledger, "positions": positions, "recorder": recorder, "fills": fills,
        "orders": orders, "reconciler": reconciler, "risk": risk, "cache": cache, "monitor": monitor,
        "worker": worker, "market_feed": market_feed, "user_feed": user_feed, "runner": runner,
        "supervisor": supervisor, "alert_url": alert_url, "port": port, "symbols": symbols, "notifier": notifier,
        "settings": settings, "degraded": degraded, "protective": protective, "products": products,
        "dead_letters": dead_letters, "desk": desk, "passive": passive, "leadership": leadership,
    }


async def _startup_fifo_check(sessions: Any, settings: Settings, notifier: Notifier) -> None:
    """Start-up validates the FIFO tables and reports; it never rewrites history (`fifo rebuild` does)."""
    from fifo_engine.validator import check

    try:
        issues = await check(sessions, settings)
    except Exception as exc:
        log.warning("fifo_startup_check_failed", error=repr(exc))
        return
    if issues:
        log.warning("fifo_startup_check", inconsistencies=len(issues), first=[str(i) for i in issues[:5]])
        await notifier.notify("fifo_inconsistent", f"{len(issues)} FIFO inconsistencies; run `fifo check`")
    else:
        log.info("fifo_startup_check", inconsistencies=0)


async def _entries_blocked(risk: RiskManager) -> bool:
    return (await risk.state()).entries_blocked


def _atr(signals: SharedStateListener, symbol: str) -> Decimal | None:
    view = signals.signal(symbol)
    return None if view is None else view.atr


async def _feed_run(feed: WsFeed) -> None:
    await feed.run()


def _sellable(catalog: dict[str, Product], symbol: str, size: Decimal) -> bool:
    """The one definition of a position (core/position_rule.py); below it is dust."""
    product = catalog.get(symbol)
    return is_position(size, None if product is None else SizeRule(product.base_increment, product.base_min_size))


def _market_products(settings: Settings, products: list[Product]) -> list[str]:
    ids = [p.product_id for p in products if p.quote_currency in ("USD", "USDC") and p.tradable]
    if settings.product_allow_list:
        ids = [p for p in ids if p in settings.product_allow_list]
    return sorted(p for p in ids if p not in settings.product_deny_list)


def _bound_port(runner: web.AppRunner) -> int:
    for site in runner.sites:
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            return int(server.sockets[0].getsockname()[1])
    raise RuntimeError("webhook HTTP server has no bound socket")


async def _probe_family(rest: Any, degraded: DegradedMode, products: list[str]) -> object:
    """One cheap read of the call family that put the daemon in degraded mode (orders: list one order;
    market: the book top), so recovery is earned on the endpoints that were failing."""
    family = degraded.status().get("family")
    if family == "orders":
        return await rest.list_orders(limit=1)
    if family == "market" and products:
        return await rest.get_best_bid_ask(products[:1])
    return await rest.get_server_time()


async def _passive_blocked(risk: RiskManager, degraded: DegradedMode, dead_letters: DeadLetters) -> bool:
    return degraded.active or bool(dead_letters.blocked_symbols()) or await _entries_blocked(risk)
