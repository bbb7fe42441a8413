"""The execution core on the real simulator (real SDK under the adapter) and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import SystemClock
from core.settings import Settings, TradingMode, load_settings
from exchange.coinbase.config import CoinbaseConfig
from exchange.coinbase.rest import CoinbaseRestAdapter
from fifo_engine.ledger import FifoLedger
from simulator.app import RunningSimulator, SimulatorConfig, TestKey, start_simulator
from webhook.fill_processor import FillProcessor
from webhook.fill_recorder import FillRecorder
from webhook.order_manager import OrderManager
from webhook.reconciler import Reconciler

PRODUCT = "ETH-USD"


def sim_config(state_dir: Path, **overrides: Any) -> SimulatorConfig:
    base: dict[str, Any] = dict(
        state_dir=state_dir, products=[PRODUCT, "BTC-USD"], auto_tick=False,
        initial_prices={PRODUCT: Decimal("101"), "BTC-USD": Decimal("60000")},
        initial_balances={"USD": Decimal("10000")},
        # Resting orders fill 150 USD per price move through them: deterministic partial fills.
        maker_fill_notional_per_tick=Decimal("150"),
    )
    base.update(overrides)
    return SimulatorConfig(**base)


def adapter_config(sim: RunningSimulator, key: TestKey) -> CoinbaseConfig:
    return CoinbaseConfig(
        mode=TradingMode.PAPER, rest_host=sim.rest_host, ws_market_url=sim.ws_market_url,
        ws_user_url=sim.ws_user_url, ca_file=sim.ca_file, api_key=key.name, api_secret=key.private_pem,
        rest_timeout_s=3.0, rest_backoff_base_s=0.01, rest_backoff_max_s=0.05, rate_private_per_s=200,
        rate_public_per_s=100,
    )


@dataclass
class Core:
    sim: RunningSimulator
    key: TestKey
    adapter: CoinbaseRestAdapter
    sessions: async_sessionmaker[AsyncSession]
    ledger: FifoLedger
    recorder: FillRecorder
    fills: FillProcessor
    orders: OrderManager
    reconciler: Reconciler
    settings: Settings


async def build_core(sim: RunningSimulator, key: TestKey, sessions: async_sessionmaker[AsyncSession]) -> Core:
    settings = load_settings(fills_lag_retry_s=5.0)
    adapter = CoinbaseRestAdapter(adapter_config(sim, key))
    clock = SystemClock()
    async with sessions() as session:
        ledger = await FifoLedger.load(session, settings)
    recorder = FillRecorder(sessions, ledger, clock.now)
    fills = FillProcessor(adapter, recorder, fills_lag_retry_s=settings.fills_lag_retry_s)
    orders = OrderManager(adapter, sessions, settings, clock)
    reconciler = Reconciler(adapter, sessions, recorder, orders, clock)
    return Core(sim, key, adapter, sessions, ledger, recorder, fills, orders, reconciler, settings)


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(sim_config(Path(tmp_path_factory.mktemp("sim"))))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="module")
async def core(sim: RunningSimulator, db_sessions: async_sessionmaker[AsyncSession]) -> Core:
    return await build_core(sim, sim.create_api_key(), db_sessions)
