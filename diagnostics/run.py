"""The shell of `diagnose`: sample the daemon for the duration (with progress), then read the
database and the exchange (read-only calls) and run the checks. If a check fails, everything is read
again after a short pause and only what is still wrong is reported (a stop being replaced is briefly
absent from the book; that is measured by the unprotected-window metric, not reported here)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.enums import OrderStatus
from core.settings import Settings
from diagnostics import checks as c
from diagnostics.activity import load_activity
from diagnostics.probe import DaemonProbe, ticks_by_symbol
from diagnostics.report import DiagnoseReport
from diagnostics.watch import Watch
from exchange.models import Balance, Order, Product
from exchange.paging import all_orders
from exchange.port import ExchangePort
from market_data.trailing_stop import TrailingStop
from market_data.trailing_store import TrailingStore
from reports.queries import load_open_lots, open_positions

SETTLE_S = 3.0
EXCHANGE_TIMEOUT_S = 30.0
PROGRESS_EVERY_S = 10.0


@dataclass
class Snapshot:
    positions: list[c.HeldSize]
    rows: dict[str, TrailingStop]
    fifo_issues: list[str]
    products: dict[str, Product] | None = None
    open_orders: list[Order] | None = None
    balances: dict[str, Balance] | None = None


async def read_snapshot(sessions: async_sessionmaker[AsyncSession], exchange: ExchangePort | None,
                        settings: Settings) -> Snapshot:
    from fifo_engine.validator import check as fifo_check

    async with sessions() as session:
        lots = await load_open_lots(session)
    rows = await TrailingStore(sessions).load_all()
    issues = [str(i) for i in await fifo_check(sessions, settings)]
    snap = Snapshot([c.HeldSize(p.symbol, p.size) for p in open_positions(lots)], rows, issues)
    if exchange is not None:
        async with asyncio.timeout(EXCHANGE_TIMEOUT_S):
            snap.products = {p.product_id: p for p in await exchange.get_products()}
            snap.open_orders = await all_orders(exchange, OrderStatus.OPEN.value)
            snap.balances = await exchange.get_balances()
    return snap


def run_checks(watch: Watch, snap: Snapshot, settings: Settings, exchange_note: str | None) -> list[c.CheckResult]:
    out = [c.check_daemon(watch), c.check_price_feed(watch)]
    products = snap.products or {}
    out.append(c.check_trailing_rows(snap.positions, snap.rows, products, settings.hodl_assets))
    if snap.open_orders is None or snap.balances is None:
        why = exchange_note or "exchange not readable"
        if settings.protective_stop_enabled:
            out.append(c.skipped("active_stops_have_one_exchange_stop", why))
        out += [c.skipped("no_orphan_exchange_stops", why), c.skipped("positions_equal_balances", why)]
    else:
        if settings.protective_stop_enabled:
            out.append(c.check_exchange_stops(snap.rows, snap.open_orders))
        out += [c.check_orphans(snap.rows, snap.open_orders),
                c.check_balances(snap.positions, snap.balances, products)]
    out.append(c.check_fifo(snap.fifo_issues))
    return out


async def watch_daemon(probe: DaemonProbe, duration_s: float, poll_s: float, clock: Clock,
                       progress: Callable[[str], None]) -> Watch:
    watch = Watch()
    start = clock.monotonic()
    next_progress = PROGRESS_EVERY_S
    while True:
        at = clock.monotonic() - start
        try:
            metrics = await probe.metrics()
            trailing = await probe.trailing()
            watch.add(at, ticks_by_symbol(metrics), trailing)
        except Exception as exc:  # the daemon may be restarting: count it, keep watching
            watch.failed(at, f"{type(exc).__name__}: {exc}")
        if at >= next_progress or at >= duration_s:
            updates = sum(f.updates for f in watch.feeds.values())
            stale = sorted(s for s, f in watch.feeds.items() if f.stale_worst_age_s is not None)
            progress(f"diagnose: {min(at, duration_s):.0f}/{duration_s:.0f}s, {watch.samples} samples, "
                     f"{updates} price updates" + (f", STALE: {', '.join(stale)}" if stale else ""))
            next_progress += PROGRESS_EVERY_S
        if at >= duration_s:
            break
        await asyncio.sleep(min(poll_s, max(0.0, duration_s - at)))  # pacing of the sampler only
    watch.finish(clock.monotonic() - start)
    return watch


async def diagnose(settings: Settings, sessions: async_sessionmaker[AsyncSession], exchange: ExchangePort | None,
                   base_url: str, duration_s: float, *, exchange_note: str | None = None, clock: Clock | None = None,
                   progress: Callable[[str], None] | None = None) -> DiagnoseReport:
    clock = clock or SystemClock()
    say = progress or _stderr
    started_at = clock.now()
    say(f"diagnose: watching {base_url} for {duration_s:.0f}s (read-only; no orders are placed)")
    async with DaemonProbe(base_url, settings.admin_token.get_secret_value()) as probe:
        watch = await watch_daemon(probe, duration_s, settings.diagnose_poll_interval_s, clock, say)
    say("diagnose: reading the database and the exchange …")
    snap = await read_snapshot(sessions, exchange, settings)
    results = run_checks(watch, snap, settings, exchange_note)
    if any(not r.passed and r.skipped is None for r in results):
        say(f"diagnose: {sum(not r.passed for r in results)} check(s) failed; reading again in {SETTLE_S:.0f}s "
            "to rule out a change in flight")
        await asyncio.sleep(SETTLE_S)  # a pause before one more read, not a periodic wait
        snap = await read_snapshot(sessions, exchange, settings)
        results = run_checks(watch, snap, settings, exchange_note)
    async with sessions() as session:
        activity = await load_activity(session, started_at)
    if settings.protective_stop_enabled:
        results.insert(-1, c.check_exchange_stop_failures(activity))
    return DiagnoseReport(duration_s, watch, activity, results, settings.protective_stop_enabled)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
