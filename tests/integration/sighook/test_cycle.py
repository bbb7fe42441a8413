"""The sighook cycle on an in-memory exchange, a real PostgreSQL and a real HTTP endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings, load_settings
from exchange.models import Product
from exchange.port import ExchangeUnavailable
from shared_data.db import unit_of_work
from shared_data.models import Fill, PassiveOrder, RiskState
from shared_data.shared_state import MARKET_DATA, load
from sighook.daemon import run_cycles, run_sighook
from sighook.entry_alerts import EntryAlerter
from sighook.loop import SighookCycle
from sighook.matrix import from_payload
from sighook.rules import Decision
from tests.integration.sighook.support import SECRET, AlertRecorder, clear_tables
from tests.unit.sighook.memory_exchange import EPOCH, MemoryExchange

SHAPES = {"WAVE-USD": "wave", "RISE-USD": "rise", "CRASH-USD": "crash", "FLAT-USD": "flat",
          "FAIL-USD": "wave", "BAD-USD": "wave"}


@pytest.fixture
async def recorder() -> AsyncIterator[AlertRecorder]:
    rec = await AlertRecorder().start()
    try:
        yield rec
    finally:
        await rec.stop()


@pytest.fixture(autouse=True)
async def clean(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    await clear_tables(db_sessions)


def settings(url: str, **overrides: object) -> Settings:
    base: dict[str, object] = {"webhook_secrets": SECRET, "sighook_webhook_url": url, "candle_history": 300,
                               "sighook_stage_timeout_s": 20.0}
    return load_settings(**{**base, **overrides})


def cycle_for(s: Settings, exchange: MemoryExchange, sessions: async_sessionmaker[AsyncSession], *,
              concurrency: int = 4, backoff_base_s: float = 0.25) -> SighookCycle:
    alerter = EntryAlerter(s, sessions, concurrency=concurrency, backoff_base_s=backoff_base_s)
    return SighookCycle(s, exchange, sessions, alerter=alerter)


async def test_cycle_publishes_the_matrix_and_survives_bad_products(
        db_sessions: async_sessionmaker[AsyncSession], recorder: AlertRecorder) -> None:
    exchange = MemoryExchange(dict(SHAPES), failing={"FAIL-USD"}, broken={"BAD-USD"})
    cycle = cycle_for(settings(recorder.url), exchange, db_sessions)
    try:
        report = await cycle.run_once()
        assert report.error is None, report.error
        assert report.universe == 6
        assert report.fetch is not None and report.fetch.backfill
        assert report.fetch.failed.keys() == {"FAIL-USD"}
        # Cold start: one window of 300 closed buckets per product, ending before the open bucket.
        first = [r for r in exchange.candle_requests if r[0] == "WAVE-USD"]
        assert first == [("WAVE-USD", EPOCH + timedelta(hours=5), EPOCH + timedelta(hours=10, seconds=-1))]
        matrix = report.matrix
        assert matrix is not None
        assert sorted(matrix.rows) == ["CRASH-USD", "FLAT-USD", "RISE-USD", "WAVE-USD"]
        assert matrix.skipped == {"FAIL-USD": "no_candles", "BAD-USD": "non_positive_price"}
        wave = matrix.rows["WAVE-USD"]
        assert wave.candles == 300 and wave.candle_time == EPOCH + timedelta(hours=10, minutes=-1)
        assert set(report.durations) >= {"universe", "fetch", "compute", "publish", "alerts", "total"}

        async with db_sessions() as s:
            stored = await load(s, MARKET_DATA)
        assert stored is not None
        published = from_payload(stored["buy_sell_matrix"])
        assert published.rows["WAVE-USD"].atr == wave.atr and published.rows["WAVE-USD"].close == wave.close
        assert set(stored["tickers"]) == set(SHAPES)

        # Next minute: one new bucket per product, nothing refetched.
        exchange.candle_requests.clear()
        exchange.advance(60)
        report = await cycle.run_once()
        assert report.error is None
        again = [r for r in exchange.candle_requests if r[0] == "WAVE-USD"]
        assert again == [("WAVE-USD", EPOCH + timedelta(hours=10), EPOCH + timedelta(hours=10, minutes=1, seconds=-1))]
        assert report.matrix is not None and report.matrix.rows["WAVE-USD"].candle_time == EPOCH + timedelta(hours=10)
        assert exchange.order_calls == 0  # sighook never trades
    finally:
        await cycle.alerter.close()


async def test_forced_buy_alerts_once_per_candle_and_respects_blockers(
        db_sessions: async_sessionmaker[AsyncSession], recorder: AlertRecorder) -> None:
    shapes = {"HELD-USD": "wave", "OPEN-USD": "wave", "FREE-USD": "wave"}
    exchange = MemoryExchange(shapes)
    cycle = cycle_for(settings(recorder.url, buy_score_threshold=Decimal(-1)), exchange, db_sessions)
    now = datetime.now(UTC)
    async with unit_of_work(db_sessions) as s:
        s.add(Fill(trade_id="t1", order_id="o1", symbol="HELD-USD", side="BUY", price=Decimal(100),
                   size=Decimal("0.5"), commission=Decimal("0.1"), trade_time=now, ingest_via="rest"))
        s.add(PassiveOrder(order_id="o2", symbol="OPEN-USD", side="BUY", order_type="LIMIT", status="OPEN"))
    try:
        for _ in range(3):
            report = await cycle.run_once()
            assert report.error is None, report.error
        assert report.matrix is not None
        assert {r.decision for r in report.matrix.rows.values()} == {Decision.BUY}
        assert recorder.ids() == ["sighook:FREE-USD:2026-01-01T09:59:00Z"]
        body = recorder.bodies[0]
        assert body["secret"] == SECRET and body["source"] == "sighook" and body["action"] == "buy"
        assert report.entries is not None
        assert report.entries.skipped == {"FREE-USD": "already_sent", "HELD-USD": "has_position",
                                          "OPEN-USD": "open_buy"}

        # A new candle is a new signal; a tripped breaker stops every entry.
        exchange.advance(60)
        await cycle.run_once()
        assert recorder.ids()[-1] == "sighook:FREE-USD:2026-01-01T10:00:00Z" and len(recorder.bodies) == 2
        async with unit_of_work(db_sessions) as s:
            s.add(RiskState(breaker="daily_loss", tripped=True, reason="test"))
        exchange.advance(60)
        report = await cycle.run_once()
        assert len(recorder.bodies) == 2
        assert report.entries is not None and set(report.entries.skipped.values()) == {"breaker_tripped"}
    finally:
        await cycle.alerter.close()


async def test_alert_retries_5xx_then_remembers_and_does_not_retry_a_rejection(
        db_sessions: async_sessionmaker[AsyncSession], recorder: AlertRecorder) -> None:
    exchange = MemoryExchange({"ONE-USD": "wave", "TWO-USD": "rise"})
    # One alert at a time, so the queued statuses meet the alerts in a known order.
    cycle = cycle_for(settings(recorder.url, buy_score_threshold=Decimal(-1)), exchange, db_sessions, concurrency=1)
    recorder.statuses.extend([503, 200, 422])  # ONE-USD: 503 then 200; TWO-USD: 422
    try:
        report = await cycle.run_once()
        assert report.entries is not None
        assert (report.entries.sent, report.entries.rejected, report.entries.failed) == (1, 1, 0)
        assert recorder.ids() == ["sighook:ONE-USD:2026-01-01T09:59:00Z"] * 2 + ["sighook:TWO-USD:2026-01-01T09:59:00Z"]
        await cycle.run_once()
        assert len(recorder.bodies) == 3  # neither is sent again for the same candle
    finally:
        await cycle.alerter.close()


async def test_unreachable_webhook_is_retried_next_cycle(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    exchange = MemoryExchange({"ONE-USD": "wave"})
    s = settings("http://127.0.0.1:9/webhook", buy_score_threshold=Decimal(-1))  # port 9: nothing listens
    cycle = cycle_for(s, exchange, db_sessions, backoff_base_s=0.01)
    try:
        report = await cycle.run_once()
        assert report.error is None
        assert report.entries is not None and report.entries.failed == 1
        assert len(cycle.alerter.memory) == 0  # not remembered: the next cycle tries again
    finally:
        await cycle.alerter.close()


class StopAfter(MemoryExchange):
    """Sets `stop` when the exchange clock is read for the n-th time (once per cycle)."""

    def __init__(self, shapes: dict[str, str], stop: asyncio.Event, cycles: int) -> None:
        super().__init__(shapes)
        self.stop, self.left = stop, cycles

    async def get_server_time(self) -> datetime:
        self.left -= 1
        if self.left == 0:
            self.stop.set()
        return await super().get_server_time()


async def test_run_cycles_repeats_until_the_stop_event(db_sessions: async_sessionmaker[AsyncSession],
                                                       recorder: AlertRecorder) -> None:
    stop = asyncio.Event()
    exchange = StopAfter({"ONE-USD": "wave"}, stop, cycles=3)
    cycle = cycle_for(settings(recorder.url), exchange, db_sessions)
    try:
        await asyncio.wait_for(run_cycles(cycle, stop, interval_s=0.01), timeout=60)
    finally:
        await cycle.alerter.close()
    assert cycle.cycles == 3  # the cycle in progress finishes, no further one starts


async def test_run_sighook_daemon_publishes_and_stops(db_url: str, db_sessions: async_sessionmaker[AsyncSession],
                                                      recorder: AlertRecorder) -> None:
    stop = asyncio.Event()
    exchange = StopAfter({"ONE-USD": "wave", "TWO-USD": "rise"}, stop, cycles=2)
    s = settings(recorder.url, sighook_interval_s=0.01)
    await asyncio.wait_for(run_sighook(s, db_url, stop, exchange=exchange), timeout=60)
    async with db_sessions() as session:
        stored = await load(session, MARKET_DATA)
    assert stored is not None
    assert sorted(stored["buy_sell_matrix"]["rows"]) == ["ONE-USD", "TWO-USD"]
    assert exchange.order_calls == 0


class FlakyProducts(MemoryExchange):
    """get_products fails (or hangs) on chosen calls."""

    def __init__(self, shapes: dict[str, str], fail_calls: set[int], hang: bool = False) -> None:
        super().__init__(shapes)
        self.calls, self.fail_calls, self.hang = 0, fail_calls, hang

    async def get_products(self) -> list[Product]:
        self.calls += 1
        if self.calls in self.fail_calls:
            if self.hang:
                await asyncio.sleep(3600)
            raise ExchangeUnavailable("products: injected failure")
        return await super().get_products()


async def test_failed_or_hung_stages_end_the_cycle_not_the_loop(
        db_sessions: async_sessionmaker[AsyncSession], recorder: AlertRecorder) -> None:
    exchange = FlakyProducts({"ONE-USD": "wave"}, fail_calls={1, 3})
    cycle = cycle_for(settings(recorder.url), exchange, db_sessions)
    hung = FlakyProducts({"ONE-USD": "wave"}, fail_calls={1}, hang=True)
    hung_cycle = cycle_for(settings(recorder.url, sighook_stage_timeout_s=0.2), hung, db_sessions)
    try:
        first = await cycle.run_once()  # no universe yet: the cycle fails with the stage named
        assert first.error is not None and first.error.startswith("universe: ExchangeUnavailable")
        assert not first.published
        assert (await cycle.run_once()).error is None
        exchange.advance(60)
        third = await cycle.run_once()  # the product list failed again: the last one is reused
        assert third.error is None and third.published and third.warnings
        assert third.matrix is not None and list(third.matrix.rows) == ["ONE-USD"]
        timed_out = await hung_cycle.run_once()
        assert timed_out.error == "universe: timed out after 0.2s"
    finally:
        await cycle.alerter.close()
        await hung_cycle.alerter.close()
