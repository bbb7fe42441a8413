"""The webhook process: the single executor of orders, assembled from its parts and supervised.

Loops (each restarted with backoff if it dies): market and user WebSocket feeds, the fill
processor, the reconciler, the exit sentinel and its trailing-stop writer, the alert worker, and the
shared-state listener (buy_sell_matrix). The HTTP server (alerts, health, metrics, dashboard) runs
beside them. SIGTERM: stop accepting alerts, let in-flight orders finish (bounded), exit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from core.alert_secret import with_paper_admin_token, with_paper_secret
from core.clock import SystemClock
from core.logging import get_logger, redactor
from core.metrics import MARKET_LAST_TICK, MARKET_TICKS, OPEN_POSITIONS
from core.settings import Settings
from exchange.coinbase.clients import build_feed
from exchange.coinbase.ws_feed import WsFeed
from exchange.coinbase.ws_protocol import Ticker, UserOrderUpdate, UserSnapshotBatch
from exchange.monitored import MonitoredExchange
from reports.dashboard.events import event_routes
from reports.dashboard.routes import dashboard_routes
from risk.degraded.mode import DegradedMode
from risk.degraded.store import DegradedStore
from shared_data.db import create_engine, session_factory
from shared_data.event_store import EventRetention
from shared_data.shared_state import SharedStateListener
from webhook.account_check import identify, verify_account
from webhook.dashboard_data import LiveDashboardData
from webhook.exchange_runtime import ExchangeRuntime, open_exchange
from webhook.fill_dead_letters import DeadLetters
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
from webhook.order_updates import OrderPrompt
from webhook.ready_announce import announce_ready
from webhook.reconciler import Reconciler
from webhook.status import DaemonHealth, RiskAdmin
from webhook.supervisor import Supervisor
from webhook.trading_core import Seams, build_trading_core
from webhook.trailing_health import TrailingHistoryHealth

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
    dead_letters = DeadLetters(sessions, notifier, clock)
    await dead_letters.load()
    reconcile_wake = asyncio.Event()
    # The trading parts, wired as a replay wires them (webhook/trading_core.py), with this process's
    # guards: writes and trailing rows behind the leader fence, degraded mode, fill dead letters. An
    # order whose send outcome is unknown is settled by the reconciler a few seconds later
    # (re-sending the same client_order_id), not at the next periodic run.
    core = await build_trading_core(settings, sessions, Seams(
        clock=clock, exchange=rest, signals=listener, notifier=notifier,
        fenced_writes=lambda orders: FencedWrites(rest, orders.ensure_leader), fence=leadership.fence,
        fenced_rows=lambda store: FencedTrailingRows(store, leadership.fence, sessions),
        on_unknown_outcome=lambda: asyncio.get_running_loop().call_later(3.0, reconcile_wake.set),
        degraded=degraded, dead_letters=dead_letters, restore_trailing=leadership.is_leader))
    catalog, ledger, positions, recorder, fills = core.catalog, core.ledger, core.positions, core.recorder, core.fills
    orders, risk, cache, monitor, writer = core.orders, core.risk, core.cache, core.monitor, core.writer
    desk, passive, protective, worker, products = core.desk, core.passive, core.protective, core.worker, core.products
    symbols = core.symbols
    OPEN_POSITIONS.set_function(lambda: len(positions.open_positions()))
    reconciler = Reconciler(rest, sessions, recorder, orders, clock)

    async def fills_recorded_elsewhere(_resolved: list[Any]) -> None:
        await recorder.reload_ledger(settings)  # `fills retry` wrote them in its own process
        reconcile_wake.set()

    dead_letters.on_resolved(fills_recorded_elsewhere)
    await listener.start()
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
                                                   exchange=rest, catalog=catalog, basis=core.basis))
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
    leadership.on_takeover(TakeoverSteps(sessions, settings, ledger, positions, risk, reconciler, core.trailing_store,
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


async def _feed_run(feed: WsFeed) -> None:
    await feed.run()


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
