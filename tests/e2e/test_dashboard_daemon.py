"""Headless Chromium against the running daemon on the simulator: a filled position appears on the page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path

import pytest

from simulator.app import RunningSimulator
from tests.e2e.harness import buy_alert, e2e_settings, eventually, running_daemon, start_test_simulator
from tests.e2e.test_dashboard_browser import ARTIFACTS, run_chromium, section


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), ["ETH-USD", "BTC-USD"])
    try:
        yield running
    finally:
        await running.stop()


@pytest.mark.slow
async def test_daemon_dashboard_shows_a_filled_position(db_url: str, sim: RunningSimulator) -> None:
    sim.set_price("ETH-USD", D("100"))
    async with running_daemon(db_url, sim, e2e_settings()) as d:
        status, _ = await d.post_alert(buy_alert("ETH-USD", notional="250"))
        assert status == 200
        await eventually(lambda: d.position_size("ETH-USD") > 0, what="ETH position")
        sim.set_price("ETH-USD", D("101"))  # a fresh quote for the last-price column
        url = d.parts["alert_url"].rsplit("/webhook", 1)[0] + "/"
        dom, _ = await run_chromium("--dump-dom", url)
        row = re.search(r'<tr data-symbol="ETH-USD">(.*?)</tr>', section(dom, "positions"), re.DOTALL)
        assert row, "the filled position is not on the page"
        assert "take profit" in row.group(1)
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "dashboard-daemon.png"
        shot.unlink(missing_ok=True)
        await run_chromium(f"--screenshot={shot}", "--window-size=1400,1500", url)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
