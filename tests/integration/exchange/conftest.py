"""Fixtures: one simulator per test module (real HTTPS + WebSocket on 127.0.0.1) and an adapter on the real SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from core.settings import TradingMode
from exchange.coinbase.config import CoinbaseConfig
from exchange.coinbase.rest import CoinbaseRestAdapter
from simulator.app import RunningSimulator, SimulatorConfig, TestKey, start_simulator

PRODUCTS = ["BTC-USD", "ETH-USD"]
# Short timeouts and backoff so fault tests stay quick; the retry budget is the production default.
REST_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(SimulatorConfig(
        state_dir=Path(tmp_path_factory.mktemp("sim")), products=PRODUCTS,
        initial_prices={"BTC-USD": Decimal("60000"), "ETH-USD": Decimal("3000")},
        initial_balances={"USD": Decimal("100000"), "BTC": Decimal("1")}, auto_tick=False))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="module")
def sim_key(sim: RunningSimulator) -> TestKey:
    return sim.create_api_key()


@pytest.fixture(scope="module")
def cb_config(sim: RunningSimulator, sim_key: TestKey) -> CoinbaseConfig:
    return CoinbaseConfig(
        mode=TradingMode.PAPER, rest_host=sim.rest_host, ws_market_url=sim.ws_market_url,
        ws_user_url=sim.ws_user_url, ca_file=sim.ca_file, api_key=sim_key.name, api_secret=sim_key.private_pem,
        rest_timeout_s=REST_TIMEOUT_S, rest_max_retries=4, rest_backoff_base_s=0.01, rest_backoff_max_s=0.05,
        rate_private_per_s=200, rate_public_per_s=100, ws_heartbeat_timeout_s=2.5, ws_backoff_base_s=0.05,
        ws_backoff_max_s=0.2, ws_open_timeout_s=3.0, ws_outage_alert_interval_s=0.3)


@pytest.fixture(scope="module")
def adapter(cb_config: CoinbaseConfig) -> CoinbaseRestAdapter:
    return CoinbaseRestAdapter(cb_config)


@pytest.fixture(autouse=True)
def _clear_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").faults.clear()

