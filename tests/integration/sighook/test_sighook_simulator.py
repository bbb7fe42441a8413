"""Must-show: sighook on the real simulator + Coinbase adapter (real SDK), real PostgreSQL, real webhook app.

* the matrix for 20 products is computed, written to shared_data, and a SharedStateListener sees it
  through NOTIFY (observed latency printed; the only bound is a generous 5 s timeout);
* a forced buy signal (BUY_SCORE_THRESHOLD=-1) arrives at webhook's alert endpoint as exactly one
  alert although the cycle runs three times.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import SystemClock
from core.settings import Settings, TradingMode, load_settings
from exchange.coinbase.clients import CoinbaseConfig, CoinbaseRestAdapter, build_rest_adapter
from shared_data.db import unit_of_work
from shared_data.models import Alert, Fill, SharedData
from shared_data.shared_state import SharedStateListener
from sighook.loop import SighookCycle
from sighook.rules import Decision
from simulator.app import RunningSimulator, SimulatorConfig, start_simulator
from tests.integration.sighook.support import SECRET, NoAdmin, QuietHealth, clear_tables
from webhook.alerts.symbols import SymbolMap
from webhook.http.app import build_app
from webhook.http.deps import HttpDeps
from webhook.http.server import RunningServer, start_server

BASES = ["BTC", "ETH", "SOL", "DOGE", "LTC", "ADA", "AVAX", "LINK", "DOT", "XLM",
         "ATOM", "UNI", "AAVE", "ALGO", "FIL", "NEAR", "ICP", "ETC", "BCH", "XTZ"]
PRODUCTS = [f"{b}-USD" for b in BASES]
FREE = "SOL-USD"  # the one product without a position: the only one that may be alerted


@dataclass
class Stack:
    sim: RunningSimulator
    adapter: CoinbaseRestAdapter
    webhook: RunningServer
    settings: Settings


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory,
                db_sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Stack]:
    state: Path = tmp_path_factory.mktemp("sim")
    sim = await start_simulator(SimulatorConfig(state_dir=state, products=PRODUCTS, auto_tick=False,
                                                history_minutes=400, seed=11))
    key = sim.create_api_key()
    adapter = build_rest_adapter(CoinbaseConfig(
        mode=TradingMode.PAPER, rest_host=sim.rest_host, ws_market_url=sim.ws_market_url,
        ws_user_url=sim.ws_user_url, ca_file=sim.ca_file, api_key=key.name, api_secret=key.private_pem))
    base = load_settings(webhook_secrets=SECRET, alert_rate_limit_per_min=1000)
    deps = HttpDeps(settings=base, sessions=db_sessions, health=QuietHealth(), admin=NoAdmin(),
                    symbols=SymbolMap.from_products(PRODUCTS), clock=SystemClock(), wake=lambda: None)
    webhook = await start_server(build_app(deps), "127.0.0.1", 0, access_log=False)
    settings = load_settings(
        webhook_secrets=SECRET, sighook_webhook_url=f"http://127.0.0.1:{webhook.port}/webhook",
        candle_history=300, buy_score_threshold=Decimal(-1), sighook_stage_timeout_s=30.0,
    )
    try:
        yield Stack(sim, adapter, webhook, settings)
    finally:
        await webhook.stop()
        await sim.stop()


async def test_matrix_for_20_products_reaches_the_listener_and_one_forced_buy_alerts_once(
        stack: Stack, db_url: str, db_sessions: async_sessionmaker[AsyncSession]) -> None:
    await clear_tables(db_sessions)
    held = [p for p in PRODUCTS if p != FREE]
    async with unit_of_work(db_sessions) as s:  # positions in 19 products: no entries there
        for i, pid in enumerate(held):
            s.add(Fill(trade_id=f"t{i}", order_id=f"o{i}", symbol=pid, side="BUY", price=Decimal(1),
                       size=Decimal("0.1"), commission=Decimal(0), trade_time=datetime.now(UTC), ingest_via="rest"))

    cycle = SighookCycle(stack.settings, stack.adapter, db_sessions)
    # A poll interval far beyond the test: the matrix can only arrive through NOTIFY.
    async with SharedStateListener(db_url, matrix_max_age_s=300, poll_interval_s=3600) as listener:
        try:
            reports = []
            for _ in range(3):
                started = time.perf_counter()
                report = await cycle.run_once()
                reports.append(report)
                assert report.error is None, report.error
                matrix = report.matrix
                assert matrix is not None
                print(f"\nsighook cycle on the simulator: {(time.perf_counter() - started) * 1000:.0f} ms "
                      f"stages={ {k: round(v * 1000) for k, v in report.durations.items()} }")
                # Seen by the listener before a generous timeout; the latency itself is only reported.
                version = listener.version
                while (snap := listener.latest_unchecked()) is None or snap.computed_at != matrix.computed_at:
                    version = await listener.wait_for_version(version, timeout=5.0)
                async with db_sessions() as s:
                    written_at = await s.scalar(select(SharedData.updated_at)
                                                .where(SharedData.data_type == "market_data"))
                reload_at = listener.health_state.last_reload_at
                assert written_at is not None and reload_at is not None
                print(f"matrix write (transaction time) → listener reload: "
                      f"{(reload_at - written_at).total_seconds() * 1000:.1f} ms (NOTIFY only)")

            first = reports[0]
            assert first.universe == 20 and first.fetch is not None and first.fetch.backfill
            matrix = reports[-1].matrix
            assert matrix is not None
            assert sorted(matrix.rows) == sorted(PRODUCTS) and matrix.skipped == {}
            assert {r.decision for r in matrix.rows.values()} == {Decision.BUY}  # forced by the threshold
            assert all(r.candles == 300 and r.atr > 0 for r in matrix.rows.values())
            signal = listener.signal("BTC-USD")
            assert signal is not None and signal.sell is False and signal.atr == matrix.rows["BTC-USD"].atr
            assert listener.health()["notifications"] >= 3 and listener.health()["reconnects"] == 0

            # Exactly one alert reached webhook, for the one product without a position.
            async with db_sessions() as s:
                alerts = (await s.execute(select(Alert.source, Alert.symbol, Alert.action, Alert.status,
                                                 Alert.dedup_key))).all()
                total = await s.scalar(select(func.count()).select_from(Alert))
            assert total == 1, alerts
            source, symbol, action, status, key = alerts[0]
            assert (source, symbol, action, status) == ("sighook", FREE, "buy", "accepted")
            assert key == f"sighook:{FREE}:{matrix.rows[FREE].candle_time.strftime('%Y-%m-%dT%H:%M:%SZ')}"
            assert [r.entries.sent for r in reports if r.entries] == [1, 0, 0]
            assert reports[1].entries is not None and reports[1].entries.skipped[FREE] == "already_sent"
            assert reports[0].entries is not None
            assert sum(1 for why in reports[0].entries.skipped.values() if why == "has_position") == 19
        finally:
            await cycle.alerter.close()
