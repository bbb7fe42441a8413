"""The compose topology (standalone simulator + daemon): fills made while the daemon was down are found
by its reconciliation, after the simulator itself restarted from its durable books (issue #17)."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from core.enums import Side
from core.settings import TradingMode
from exchange.coinbase.config import CoinbaseConfig
from exchange.coinbase.rest import CoinbaseRestAdapter
from exchange.models import OrderKind, OrderRequest
from simulator.app import RunningSimulator
from simulator.keys import TestKey
from tests.e2e import process_harness
from tests.e2e.harness import buy_alert, eventually, start_test_simulator
from tests.e2e.paper_harness import db_trade_ids, fetch, post_alert
from tests.e2e.process_harness import DaemonProcess, daemon_env

pytestmark = pytest.mark.slow
SYMBOL = "BTC-USD"


def _adapter(sim: RunningSimulator, key: TestKey) -> CoinbaseRestAdapter:
    return CoinbaseRestAdapter(CoinbaseConfig(TradingMode.PAPER, sim.rest_host, sim.ws_market_url, sim.ws_user_url,
                                              sim.ca_file, key.name, key.private_pem))


daemons = process_harness.daemons  # the shared fixture, under the name asked for


async def test_fills_while_the_daemon_was_down_survive_a_simulator_restart(
        tmp_path: Path, db_url: str, daemons: list[DaemonProcess]) -> None:
    state = tmp_path / "sim"
    sim = await start_test_simulator(state, [SYMBOL], persist=True, persist_keys=True)
    try:
        key = sim.create_api_key()
        daemon = DaemonProcess(daemon_env(db_url, sim, key))
        daemons.append(daemon)
        await daemon.start()
        assert await post_alert(daemon.alert_url, buy_alert(SYMBOL)) == 200
        await eventually(lambda: db_trade_ids(db_url), timeout=60, what="entry recorded")
        adapter = _adapter(sim, key)
        near = await adapter.create_order(OrderRequest("t-near", SYMBOL, Side.BUY, OrderKind.LIMIT_GTC,
                                                       base_size=D("0.5"), limit_price=D("99")))
        far = await adapter.create_order(OrderRequest("t-far", SYMBOL, Side.BUY, OrderKind.LIMIT_GTC,
                                                      base_size=D("0.5"), limit_price=D("50")))
        assert near.order_id and far.order_id
        await daemon.kill()
        sim.set_price(SYMBOL, D("98.5"))  # the near order fills while nobody is listening (no stop is hit)
        down_fills = {f["trade_id"] for f in sim.all_fills() if f["order_id"] == near.order_id}
        assert down_fills
        account = sim.engine.config.portfolio_id
    finally:
        await sim.stop()

    sim = await start_test_simulator(state, [SYMBOL], persist=True, persist_keys=True)
    try:
        assert sim.engine.config.portfolio_id == account
        assert [o.order_id for o in sim.engine.open_orders()] == [far.order_id]
        again = DaemonProcess(daemon_env(db_url, sim, key))
        daemons.append(again)
        await again.start()
        theirs = {f["trade_id"] for f in sim.all_fills()}
        await eventually(lambda: _have(db_url, theirs), timeout=60, what="fills made while down recorded")
        ours = await db_trade_ids(db_url)
        assert len(ours) == len(set(ours)) and set(ours) == theirs and down_fills <= set(ours)
        net = await fetch(db_url, "SELECT SUM(CASE side WHEN 'BUY' THEN size ELSE -size END) AS n FROM fills")
        available, hold = sim.balances()["BTC"]
        assert net[0]["n"] == available + hold
        await eventually(lambda: fetch(db_url, "SELECT 1 FROM passive_orders WHERE order_id = $1", far.order_id),
                         timeout=60, what="the far order is still resting")
        assert again.find("account_identity_verified")
        assert await again.terminate() == 0
    finally:
        await sim.stop()


async def _have(db_url: str, trade_ids: set[str]) -> bool:
    return set(await db_trade_ids(db_url)) == trade_ids
