"""One position exits by each reason, on the simulator with scripted prices, through the whole daemon.

Entries arrive as TradingView alerts (HTTP), fills come back through the user WebSocket and REST,
the sentinel sees prices through the market WebSocket, and `trade_records.exit_reason` says why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from core.enums import ExitReason
from shared_data.db import unit_of_work
from shared_data.shared_state import MARKET_DATA, market_data_payload, publish
from simulator.app import RunningSimulator
from tests.e2e.harness import (
    Daemon,
    buy_alert,
    e2e_settings,
    eventually,
    running_daemon,
    sell_matrix_payload,
    start_test_simulator,
)

SYMBOL = {
    ExitReason.HARD_STOP: "SOL-USD",
    ExitReason.SOFT_STOP: "LTC-USD",
    ExitReason.TAKE_PROFIT: "AVAX-USD",
    ExitReason.SIGNAL: "ETH-USD",
    ExitReason.TRAILING_STOP: "BTC-USD",
}


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), list(SYMBOL.values()))
    try:
        yield running
    finally:
        await running.stop()


async def _filled_exit(d: Daemon, symbol: str, reason: ExitReason) -> object:
    async def probe() -> object:
        rows = [r for r in await d.sells(symbol) if r.exit_reason == reason.value and r.status == "FILLED"]
        return rows[0] if rows else None

    return await eventually(probe, timeout=30, what=f"{symbol} {reason.value} exit filled")


@pytest.mark.slow
async def test_each_exit_reason_is_recorded(db_url: str, sim: RunningSimulator) -> None:
    async with running_daemon(db_url, sim, e2e_settings()) as d:
        for symbol in SYMBOL.values():
            sim.set_price(symbol, D("100"))  # a fresh quote for the entry's stale-data guard
            status, body = await d.post_alert(buy_alert(symbol))
            assert status == 200, body
        for symbol in SYMBOL.values():
            await eventually(lambda s=symbol: d.position_size(s) > 0, what=f"{symbol} position")
        entry = {s: d.entry_price(s) for s in SYMBOL.values()}

        sim.set_price(SYMBOL[ExitReason.HARD_STOP], entry[SYMBOL[ExitReason.HARD_STOP]] * D("0.93"))
        sim.set_price(SYMBOL[ExitReason.SOFT_STOP], entry[SYMBOL[ExitReason.SOFT_STOP]] * D("0.97"))
        sim.set_price(SYMBOL[ExitReason.TAKE_PROFIT], entry[SYMBOL[ExitReason.TAKE_PROFIT]] * D("1.07"))

        # Signal exit: sighook's matrix says sell while the position is in profit.
        eth = SYMBOL[ExitReason.SIGNAL]
        payload = sell_matrix_payload(eth, entry[eth], D("1"), datetime.now(UTC))
        async with unit_of_work(d.sessions) as session:
            await publish(session, MARKET_DATA, market_data_payload(payload, {}, datetime.now(UTC)))
        listener = d.parts["monitor"]._signals
        await eventually(lambda: listener.signal(eth) is not None and listener.signal(eth).sell,
                         what="sell signal loaded via NOTIFY")
        sim.set_price(eth, entry[eth] * D("1.01"))

        # Trailing stop: activate above +3.5 %, raise the high, then fall through the stop.
        btc = SYMBOL[ExitReason.TRAILING_STOP]
        monitor = d.parts["monitor"]
        sim.set_price(btc, entry[btc] * D("1.04"))
        await eventually(lambda: (t := monitor.trailing_stop(btc)) is not None and t.is_active,
                         what="trailing stop active")
        first_stop = monitor.trailing_stop(btc).current_stop
        sim.set_price(btc, entry[btc] * D("1.05"))
        await eventually(lambda: monitor.trailing_stop(btc).highest_price >= entry[btc] * D("1.045"),
                         what="trailing high raised")
        assert monitor.trailing_stop(btc).current_stop >= first_stop  # stops only move up
        sim.set_price(btc, entry[btc] * D("1.015"))

        kinds = {}
        for reason, symbol in SYMBOL.items():
            row = await _filled_exit(d, symbol, reason)
            kinds[reason] = row.order_type  # type: ignore[attr-defined]
            assert row.exit_quote_price is not None and row.exit_target_price is not None  # type: ignore[attr-defined]
            assert row.average_filled_price is not None  # type: ignore[attr-defined]
            assert row.pnl_usd is not None  # type: ignore[attr-defined]
            await eventually(lambda s=symbol: d.position_size(s) == 0, what=f"{symbol} flat")
        assert kinds[ExitReason.HARD_STOP] == "MARKET"  # hard stop: market IOC
        assert kinds[ExitReason.SOFT_STOP] == "LIMIT"  # soft stop: limit
        for symbol in SYMBOL.values():
            assert len([r for r in await d.sells(symbol) if r.status == "FILLED"]) == 1  # one exit each
