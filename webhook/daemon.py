"""The webhook process: the single executor of orders, assembled from its parts and supervised.

Loops (each restarted with backoff if it dies): market and user WebSocket feeds, the fill
processor, the reconciler, the exit sentinel and its trailing-stop writer, the alert worker, and the
shared-state listener (buy_sell_matrix). The HTTP server (alerts, health, metrics, dashboard) runs
beside them. SIGTERM: stop accepting alerts, let in-flight orders finish (bounded), exit.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from core.clock import SystemClock
from core.logging import get_logger, redactor
from core.money import quantize_down
from core.settings import Settings
from exchange.coinbase import build_feed
from exchange.coinbase.ws_feed import WsFeed
from exchange.coinbase.ws_protocol import Ticker, UserOrderUpdate, UserSnapshotBatch
from exchange.models import Product
from fifo_engine.ledger import FifoLedger
from market_data.market_cache import MarketCache
from market_data.position_monitor import PositionMonitor
from market_data.trailing_store import TrailingStore, TrailingWriter
from reports.dashboard.routes import dashboard_routes
from risk.manager import RiskManager
from shared_data.db import create_engine, session_factory
from shared_data.shared_state import SharedStateListener
from webhook.alert_executor import AlertOrderExecutor
from webhook.alerts.symbols import SymbolMap
from webhook.alerts.worker import AlertWorker
from webhook.dashboard_data import LiveDashboardData
from webhook.exchange_runtime import ExchangeRuntime, open_exchange
from webhook.exit_executor import OrderExitExecutor
from webhook.fill_processor import FillProcessor
from webhook.fill_recorder import FillRecorder
from webhook.http.access import OperatorGuard
from webhook.http.app import build_app
from webhook.http.deps import HttpDeps
from webhook.notifications import Notifier
from webhook.order_manager import OrderManager
from webhook.order_updates import OrderPrompt
from webhook.positions import PositionBook
from webhook.reconciler import Reconciler
from webhook.status import DaemonHealth, RiskAdmin
from webhook.supervisor import Supervisor

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


def _with_alert_secret(settings: Settings) -> Settings:
    """Paper runs without WEBHOOK_SECRETS get a fresh random one (only this process knows it)."""
    if settings.webhook_secret_list():
        return settings
    secret = secrets.token_urlsafe(32)
    redactor.add(secret)
    log.info("webhook_secret_generated", note="paper mode without WEBHOOK_SECRETS; set it to post alerts yourself")
    return settings.model_copy(update={"webhook_secrets": SecretStr(secret)})


async def _run(settings: Settings, db_url: str, stop: asyncio.Event, *, with_sighook: bool) -> None:
    settings = _with_alert_secret(settings)
    engine = create_engine(db_url, pool_size=settings.db_pool_size,
                           statement_timeout_ms=settings.db_statement_timeout_ms,
                           connect_timeout_s=settings.db_connect_timeout_s)
    exchange = await open_exchange(settings)
    listener = SharedStateListener(db_url, matrix_max_age_s=settings.matrix_max_age_s)
    runner: web.AppRunner | None = None
    try:
        parts = await assemble(settings, db_url, engine, exchange, listener, stop)
        runner = parts["runner"]
        supervisor: Supervisor = parts["supervisor"]
        if with_sighook:
            from sighook.daemon import run_sighook

            sighook_settings = settings.model_copy(update={"sighook_webhook_url": parts["alert_url"]})
            supervisor.add("sighook", lambda s: run_sighook(sighook_settings, db_url, s, exchange=exchange.rest))
        log.info("webhook_ready", alert_url=parts["alert_url"], positions=len(parts["positions"].open_positions()))
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
    rest = exchange.rest
    notifier = Notifier(settings.notify_url_list(), settings.notify_min_interval_s, clock)
    async with sessions() as session:
        ledger = await FifoLedger.load(session, settings)
    catalog = {p.product_id: p for p in await rest.get_products()}
    positions = PositionBook(ledger, sellable=lambda symbol, size: _sellable(catalog, symbol, size), clock=clock)
    recorder = FillRecorder(sessions, ledger, clock.now)
    fills = FillProcessor(rest, recorder, fills_lag_retry_s=settings.fills_lag_retry_s)
    reconcile_wake = asyncio.Event()
    # An order whose send outcome is unknown is settled by the reconciler a few seconds later
    # (re-sending the same client_order_id), not at the next periodic run.
    orders = OrderManager(rest, sessions, settings, clock,
                          on_unknown_outcome=lambda: asyncio.get_running_loop().call_later(3.0, reconcile_wake.set))
    reconciler = Reconciler(rest, sessions, recorder, orders, clock)
    risk = RiskManager(sessions, settings, clock=clock, notifier=notifier)
    await risk.load()
    cache = MarketCache()
    trailing_store = TrailingStore(sessions)
    trailing = await trailing_store.restore([p.symbol for p in positions.open_positions()])
    for ts in trailing.values():  # what came back, exactly (the crash soak compares it with the rows)
        log.info("trailing_stop_restored", symbol=ts.symbol, state=ts.state.value,
                 highest_price=format(ts.highest_price, "f"),
                 current_stop=None if ts.current_stop is None else format(ts.current_stop, "f"),
                 update_count=ts.update_count,
                 activated_at=None if ts.activated_at is None else ts.activated_at.isoformat())
    writer = TrailingWriter(trailing_store)
    exits = OrderExitExecutor(orders, rest, sessions, settle_order=fills.process_order, clock=clock)
    monitor = PositionMonitor(settings, cache, positions, listener, exits, notifier, clock=clock, writer=writer,
                              trailing=trailing)
    recorder.on_order_recorded(positions.exit_watcher(monitor, risk, sessions))
    await listener.start()

    products = _market_products(settings, list(catalog.values()))
    symbols = SymbolMap.from_products(products)
    alert_exec = AlertOrderExecutor(orders, risk, settings, account_value=positions.account_value(cache, rest),
                                    position_size=positions.size_of,
                                    quote_age_s=lambda s: cache.age(s, clock.monotonic()), notifier=notifier)
    worker = AlertWorker(sessions, alert_exec, clock)

    async def on_market_event(event: Any) -> None:
        if isinstance(event, Ticker):
            cache.update(event.product_id, event.price, received_mono=clock.monotonic(), received_at=clock.now(),
                         best_bid=event.best_bid, best_ask=event.best_ask, exchange_time=event.time)

    async def on_user_event(event: Any) -> None:
        updates = event.orders if isinstance(event, UserSnapshotBatch) else [event]
        for update in updates:
            if isinstance(update, UserOrderUpdate):
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
    health = DaemonHealth(engine, market_feed, user_feed, listener, risk, monitor, writer)
    deps = HttpDeps(settings=settings, sessions=sessions, health=health, admin=RiskAdmin(risk), symbols=symbols,
                    clock=clock, wake=worker.wake)
    app = build_app(deps)
    # The dashboard shows positions and P&L: operators only (loopback or ADMIN_TOKEN), like /metrics.
    dashboard = dashboard_routes(LiveDashboardData(settings, sessions, positions, cache, monitor, health))
    app.router.add_routes(OperatorGuard(settings).protect(dashboard))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
    await site.start()
    port = _bound_port(runner)
    host = "127.0.0.1" if settings.webhook_host in ("0.0.0.0", "::") else settings.webhook_host
    alert_url = f"http://{host}:{port}/webhook"

    supervisor = Supervisor(stop)
    supervisor.add("market_feed", lambda s: _feed_run(market_feed))
    supervisor.add("user_feed", lambda s: _feed_run(user_feed))
    supervisor.add("fill_processor", fills.run)
    supervisor.add("reconciler", lambda s: reconciler.run(s, reconcile_wake, settings.reconcile_interval_s))
    supervisor.add("sentinel", monitor.run)
    supervisor.add("trailing_writer", writer.run)
    supervisor.add("alert_worker", worker.run)
    return {
        "sessions": sessions, "ledger": ledger, "positions": positions, "recorder": recorder, "fills": fills,
        "orders": orders, "reconciler": reconciler, "risk": risk, "cache": cache, "monitor": monitor,
        "worker": worker, "market_feed": market_feed, "user_feed": user_feed, "runner": runner,
        "supervisor": supervisor, "alert_url": alert_url, "port": port, "symbols": symbols, "notifier": notifier,
        "settings": settings,
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


async def _feed_run(feed: WsFeed) -> None:
    await feed.run()


def _sellable(catalog: dict[str, Product], symbol: str, size: Decimal) -> bool:
    product = catalog.get(symbol)
    if product is None:
        return size > 0
    return quantize_down(size, product.base_increment) >= max(product.base_min_size, product.base_increment)


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
