"""One replay, start to finish: data → signals → fresh database → the daemon's parts → timeline → report."""

from __future__ import annotations

import gc
import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from core.settings import Settings, SettingsError, load_settings
from replay.assembly import assemble
from replay.clock import VirtualClock
from replay.data import DataSet, ProductSeries, load
from replay.database import fresh_database
from replay.driver import Driver, Progress, RunStats
from replay.entries import InProcessEntryAlerter
from replay.path import build_timeline
from replay.signals import compute_tables
from replay.venue import InProcessExchange
from shared_data.db import create_engine, with_database
from simulator.config import SimulatorConfig

# A replay's alerts never leave the process; the endpoint's secret check is not part of the path
# replayed (authentication happens before validation), but the body carries one like sighook's.
REPLAY_SECRET = "replay-in-process-secret-not-used-on-any-network"


@dataclass(frozen=True)
class ReplayRequest:
    data: tuple[str, ...]
    products: dict[str, str] = field(default_factory=dict)
    detail: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    ignore_dust: bool = False  # see replay/entries.py: a workaround for sighook's dust-as-position rule


@dataclass
class ReplayOutcome:
    database: str
    database_url: str
    settings: Settings
    dataset: DataSet
    stats: RunStats
    detailed_candles: int
    report: dict[str, Any]
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)  # wall seconds: load, signals, database, loop, report


def parse_overrides(items: list[str]) -> dict[str, str]:
    """`--set NAME=VALUE` (NAME as the env var or the field name) → {field: value}; unknown names fail."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        field_name = name.strip().lower()
        if not sep or field_name not in Settings.model_fields:
            raise SettingsError(f"--set {item!r}: not NAME=VALUE with a known setting name")
        out[field_name] = value.strip()
    return out


def replay_settings(overrides: dict[str, str]) -> Settings:
    settings = load_settings(**overrides)
    # In-process alerts need a secret in the body (sighook's alert_body); nothing listens for it.
    # Execution styles (ENTRY_ORDER_TYPE*, EXIT_ORDER_STYLE) are the user's: the driver polls the
    # working-order desk every WORKING_POLL_INTERVAL_S of virtual time, as the daemon's loop does.
    return settings.model_copy(update={"webhook_secrets": SecretStr(REPLAY_SECRET), "notify_urls": SecretStr("")})


@dataclass(frozen=True)
class LoadedData:
    """The request's candles, read and checked (load_data), with the seconds that took."""

    dataset: DataSet
    detail: dict[str, ProductSeries]
    seconds: float


def load_data(request: ReplayRequest, settings: Settings) -> LoadedData:
    started = time.perf_counter()
    dataset = load(request.data, products=request.products, start=request.start, end=request.end,
                   max_gap_candles=settings.replay_max_gap_candles)
    detail: dict[str, ProductSeries] = {}
    if request.detail:
        detail = {s.product_id: s for s in load(request.detail, products=request.products, start=request.start,
                                                 end=request.end, max_gap_candles=settings.replay_max_gap_candles
                                                 ).series}
    return LoadedData(dataset, detail, time.perf_counter() - started)


def run_fingerprint(dataset: DataSet, settings: Settings, overrides: dict[str, str], ignore_dust: bool) -> str:
    basis = json.dumps({"data": dataset.fingerprint, "overrides": overrides, "seed": settings.sim_seed,
                        "ignore_dust": ignore_dust},
                       sort_keys=True, default=str)
    return hashlib.sha256(basis.encode()).hexdigest()


async def replay(request: ReplayRequest, *, progress: Progress | None = None,
                 database: str | None = None, shortcuts: bool = True, loaded: LoadedData | None = None
                 ) -> ReplayOutcome:
    """Run one replay; `database` overrides the run's database name (default: from its fingerprint).
    `loaded`: the request's data as load_data read it already (the command checks the files before anything
    else starts): not read twice; its seconds count as the run's load phase.

    `shortcuts=False` is the reference path for tests: every price point played, every sweep run,
    sighook's blockers read from the database every time. The report must not change."""
    from replay.report import build_report

    started = time.perf_counter()
    phases: dict[str, float] = {}
    mark = started

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = round(now - mark, 3)
        mark = now

    settings = replay_settings(request.overrides)
    if loaded is None:
        loaded = load_data(request, settings)
        lap("load")
    else:
        phases["load"] = round(loaded.seconds, 3)
        started -= loaded.seconds
    dataset, detail = loaded.dataset, loaded.detail
    tables = compute_tables(dataset.series, settings)
    timeline = build_timeline(dataset.series, detail)
    lap("signals")
    name = database or f"replay_{run_fingerprint(dataset, settings, request.overrides, request.ignore_dust)[:20]}"
    first = min(int(s.starts[0]) for s in dataset.series)
    clock = VirtualClock(_utc(first))
    engine_config = SimulatorConfig.from_settings(settings, history_minutes=0).engine_config()
    venue = InProcessExchange(engine_config, {s.product_id: (s.prices[0][0], s.tick) for s in dataset.series}, clock,
                              settings.sim_initial_usd)
    async with fresh_database(settings, name) as url:
        engine = create_engine(url, pool_size=4, statement_timeout_ms=settings.db_statement_timeout_ms,
                               connect_timeout_s=settings.db_connect_timeout_s,
                               # A throwaway database on a server this run just used: a ping per checkout
                               # (a round trip each) guards against nothing here.
                               pre_ping=False)
        lap("database")
        try:
            parts = await assemble(settings, engine, venue, clock, tables)
            alerter = InProcessEntryAlerter(settings, parts.sessions, clock=clock, symbols=parts.symbols,
                                            worker=parts.worker, sellable_size=parts.positions.size_of,
                                            ignore_dust=request.ignore_dust,
                                            # Orders and breakers change only with an order's news (a
                                            # fill, a cancel) or inside an alert's risk check.
                                            db_generation=(lambda: venue.changes) if shortcuts else None)
            driver = Driver(parts, venue, clock, tables, alerter, settings, shortcuts=shortcuts)
            cpu = time.process_time()
            with _setup_frozen():
                stats = await driver.run(timeline, progress)
            lap("loop")
            phases["loop_cpu"] = round(time.process_time() - cpu, 3)  # this process only, not PostgreSQL
            stats.dust_blocked = alerter.dust_blocked
            report = await build_report(parts, settings, request, dataset, stats, name, timeline.detailed_candles)
            lap("report")
        finally:
            await engine.dispose()
    return ReplayOutcome(database=name, database_url=_where(settings, name),
                         settings=settings, dataset=dataset, stats=stats, detailed_candles=timeline.detailed_candles,
                         report=report, seconds=time.perf_counter() - started, phases=phases)


@contextmanager
def _setup_frozen() -> Iterator[None]:
    """Everything built before the loop (modules, data, tables, the daemon's parts) stays out of the
    cyclic collector's sight while the loop runs: its occasional older-generation passes would walk
    that whole heap again and again (measured: ≈ 0.29 s of collection in the 20-product bench loop,
    ≈ 0.06 s frozen). Not collected first (that alone took ≈ 0.2 s): garbage frozen with the rest is
    freed after the loop, when it is unfrozen — as is what a process running many replays no longer needs."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _utc(seconds: int) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(seconds, UTC)


def _where(settings: Settings, name: str) -> str:
    """The run's database URL (password masked), or where the embedded server keeps it."""
    from shared_data.db import redact_url

    if settings.database_url is None:
        return f"embedded server in {Path(settings.pgdata_dir)} (database {name})"
    return redact_url(with_database(settings.database_url.get_secret_value(), name))
