"""One sighook cycle: universe → candles → indicators + rules → matrix → publish → entry alerts.

Every stage has a timeout (SIGHOOK_STAGE_TIMEOUT_S) and reports its duration and counts as a
structured log line and Prometheus metrics. A failing stage ends the cycle with an error in the
report; the loop in `daemon.py` carries on with the next cycle. sighook never places orders.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.logging import get_logger
from core.metrics import SIGHOOK_CYCLE_SECONDS, SIGHOOK_SIGNALS
from core.money import fmt
from core.settings import Settings
from exchange.models import Product, granularity_seconds
from exchange.port import ExchangePort
from shared_data.advisory_keys import NAMESPACE_SIGHOOK_PUBLISH
from shared_data.db import unit_of_work
from shared_data.shared_state import MARKET_DATA, load, market_data_payload, publish
from sighook import indicators, rules
from sighook.candle_store import CandleStore
from sighook.entry_alerts import EntryAlerter, EntryReport
from sighook.fetcher import FetchReport, refresh_candles
from sighook.matrix import BuySellMatrix, ProductCandles, build_matrix, to_payload
from sighook.replicas.leases import ProductLeases
from sighook.replicas.share import merge_market_data
from sighook.universe import UniverseEntry, UniverseResult, select_universe

log = get_logger(__name__)


class StageFailed(Exception):
    def __init__(self, stage: str, error: str) -> None:
        super().__init__(f"{stage}: {error}")
        self.stage = stage
        self.error = error


@dataclass(slots=True)
class CycleReport:
    market_now: datetime | None = None
    universe: int = 0
    excluded: int = 0
    fetch: FetchReport | None = None
    matrix: BuySellMatrix | None = None
    published: bool = False
    entries: EntryReport | None = None
    durations: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def tickers_of(entries: list[UniverseEntry]) -> dict[str, dict[str, Any]]:
    """Last price and 24h figures of the universe, published next to the matrix."""
    out: dict[str, dict[str, Any]] = {}
    for e in entries:
        p: Product = e.product
        out[p.product_id] = {
            "price": fmt(p.price) if p.price is not None else None,
            "volume_24h": fmt(p.volume_24h),
            "quote_volume_24h_usd": fmt(p.quote_volume_24h),
            "price_change_24h_pct": fmt(p.price_change_24h_pct),
            "hodl": e.hodl,
        }
    return out


class SighookCycle:
    """Holds what survives between cycles: the candle store, the last universe, the alert memory."""

    def __init__(self, settings: Settings, exchange: ExchangePort, sessions: async_sessionmaker[AsyncSession], *,
                 alerter: EntryAlerter | None = None, clock: Clock | None = None,
                 weights: Mapping[str, Decimal] = rules.DEFAULT_WEIGHTS,
                 params: indicators.IndicatorParams = indicators.DEFAULT_PARAMS,
                 rule_params: rules.RuleParams = rules.DEFAULT_RULE_PARAMS, fetch_concurrency: int = 8,
                 leases: ProductLeases | None = None) -> None:
        """`leases`: several replicas split the products (issue #24); None computes them all."""
        self.leases = leases
        rules.check_weights(weights)
        granularity_seconds(settings.candle_granularity)  # fail at start on a bad setting
        self.settings = settings
        self.exchange = exchange
        self.sessions = sessions
        self.clock = clock or SystemClock()
        self.alerter = alerter if alerter is not None else EntryAlerter(settings, sessions, clock=self.clock)
        self.weights = dict(weights)
        self.params = params
        self.rule_params = rule_params
        self.fetch_concurrency = fetch_concurrency
        self.store = CandleStore(max(settings.candle_history, params.min_candles))
        self._universe: UniverseResult | None = None
        self.cycles = 0

    @property
    def granularity(self) -> str:
        return self.settings.candle_granularity

    def max_signal_age_s(self) -> float:
        """An entry is only sent for a candle that ended at most this long ago (market time)."""
        return max(2.0 * granularity_seconds(self.granularity), 2.0 * self.settings.sighook_interval_s)

    async def run_once(self) -> CycleReport:
        report = CycleReport()
        started = time.perf_counter()
        try:
            await self._stages(report)
        except StageFailed as exc:
            report.error = str(exc)
            log.error("sighook_cycle_failed", stage=exc.stage, error=exc.error)
        finally:
            report.durations["total"] = time.perf_counter() - started
            for stage, seconds in report.durations.items():
                SIGHOOK_CYCLE_SECONDS.labels(stage=stage).observe(seconds)
            self.cycles += 1
            self._log(report)
        return report

    async def _stages(self, report: CycleReport) -> None:
        s = self.settings
        timeout = s.sighook_stage_timeout_s
        try:
            products = await self._stage(report, "universe", self.exchange.get_products(), timeout)
            chosen = select_universe(products, min_volume_24h_usd=s.min_volume_24h_usd,
                                     allow_list=s.product_allow_list, deny_list=s.product_deny_list,
                                     hodl_assets=s.hodl_assets)
        except StageFailed as exc:
            if self._universe is None:
                raise
            # The product list is a slow-moving thing: keep analysing the last one we had.
            report.warnings.append(str(exc))
            log.warning("sighook_universe_reused", error=exc.error, products=len(self._universe.entries))
            chosen = self._universe
        self._universe = chosen
        report.universe, report.excluded = len(chosen.entries), len(chosen.excluded)
        entries = chosen.entries
        if self.leases is not None:  # this replica computes (and alerts on) the products it holds
            owned = await self._stage(report, "leases", self.leases.claim([e.product_id for e in entries]), timeout)
            entries = [e for e in entries if e.product_id in owned]
        self.store.forget(e.product_id for e in entries)
        report.market_now = await self._market_now(min(timeout, s.rest_timeout_s))
        ids = [e.product_id for e in entries]
        report.fetch = await self._stage(report, "fetch", refresh_candles(
            self.exchange, self.store, ids, granularity=self.granularity, market_now=report.market_now,
            concurrency=self.fetch_concurrency, timeout_s=timeout, request_timeout_s=s.rest_timeout_s * 3,
        ), timeout + 5.0)  # the fetch stage enforces `timeout` itself and keeps what arrived
        inputs = self._inputs(entries)
        computed_at = self.clock.now()
        matrix = await self._stage(report, "compute", asyncio.to_thread(
            build_matrix, inputs, computed_at=computed_at, granularity=self.granularity,
            buy_threshold=s.buy_score_threshold, sell_threshold=s.sell_score_threshold, weights=self.weights,
            params=self.params, rule_params=self.rule_params), timeout)
        matrix = self._drop_stale_rows(matrix, report.market_now)
        report.matrix = matrix
        for decision, count in matrix.decisions().items():
            if count:
                SIGHOOK_SIGNALS.labels(decision=decision.value).inc(count)
        payload = market_data_payload(to_payload(matrix), tickers_of(chosen.entries), self.clock.now())
        await self._stage(report, "publish", self._publish(payload), timeout)
        report.published = True
        report.entries = await self._stage(report, "alerts", self.alerter.run(
            matrix, market_now=report.market_now, max_signal_age_s=self.max_signal_age_s()), timeout)

    async def _stage[T](self, report: CycleReport, name: str, work: Awaitable[T], timeout: float) -> T:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                return await work
        except TimeoutError:
            raise StageFailed(name, f"timed out after {timeout}s") from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise StageFailed(name, f"{type(exc).__name__}: {exc}"[:300]) from exc
        finally:
            report.durations[name] = time.perf_counter() - started

    async def _market_now(self, timeout: float) -> datetime:
        """Exchange time (candle buckets are in its clock); our clock when it cannot be had."""
        try:
            async with asyncio.timeout(timeout):
                return await self.exchange.get_server_time()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("server_time_unavailable", error=f"{type(exc).__name__}: {exc}"[:200])
            return self.clock.now()

    def _inputs(self, entries: list[UniverseEntry]) -> list[ProductCandles]:
        out: list[ProductCandles] = []
        for e in entries:
            series = self.store.get(e.product_id, self.granularity)
            if series is None or len(series) == 0:
                out.append(ProductCandles(e.product_id, e.hodl, _EMPTY, None))
            else:
                out.append(ProductCandles(e.product_id, e.hodl, series.arrays(), series.last))
        return out

    def _drop_stale_rows(self, matrix: BuySellMatrix, market_now: datetime) -> BuySellMatrix:
        """Rows whose newest candle ended long ago (the product stopped trading) are not signals."""
        limit = timedelta(seconds=max(self.settings.matrix_max_age_s, 2.0 * granularity_seconds(self.granularity)))
        stale = {pid for pid, row in matrix.rows.items() if market_now - row.as_of > limit}
        if not stale:
            return matrix
        rows = {pid: row for pid, row in matrix.rows.items() if pid not in stale}
        skipped = {**matrix.skipped, **dict.fromkeys(stale, "stale_candles")}
        return BuySellMatrix(matrix.computed_at, matrix.granularity, matrix.buy_threshold, matrix.sell_threshold,
                             matrix.weights, rows, skipped)

    async def _publish(self, payload: dict[str, Any]) -> None:
        async with unit_of_work(self.sessions) as session:
            if self.leases is not None:  # replicas publish one after another, each merging its rows in
                await session.execute(text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": NAMESPACE_SIGHOOK_PUBLISH})
                payload = merge_market_data(await load(session, MARKET_DATA), payload, self.leases.held,
                                            self.leases.owned_by_others)
            await publish(session, MARKET_DATA, payload)

    def _log(self, r: CycleReport) -> None:
        decisions = {d.value: n for d, n in r.matrix.decisions().items()} if r.matrix else {}
        fetch = r.fetch
        log.info(
            "sighook_cycle", cycle=self.cycles, ok=r.error is None, error=r.error, warnings=r.warnings or None,
            universe=r.universe,
            excluded=r.excluded, rows=len(r.matrix.rows) if r.matrix else 0,
            skipped=len(r.matrix.skipped) if r.matrix else 0, decisions=decisions, published=r.published,
            requests=fetch.requests if fetch else 0, candles_added=fetch.candles_added if fetch else 0,
            fetch_failed=len(fetch.failed) if fetch else 0, fetch_timed_out=len(fetch.timed_out) if fetch else 0,
            alerts_sent=r.entries.sent if r.entries else 0, alerts_failed=r.entries.failed if r.entries else 0,
            durations_ms={k: round(v * 1000, 1) for k, v in r.durations.items()},
        )


_EMPTY = np.empty((0, 5))
