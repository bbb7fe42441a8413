"""Fixtures shared by the leadership e2e tests (failover, zombie and fenced leader): one simulator per
module quoting BTC and ETH, and the list of webhook processes a test starts, all stopped after it."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulator.app import RunningSimulator
from tests.e2e.harness import start_test_simulator
from tests.e2e.process_harness import DaemonProcess

BTC, ETH = "BTC-USD", "ETH-USD"


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), [BTC, ETH])
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def daemons() -> AsyncIterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for d in started:  # never leave a daemon running after a failed test
        if d.proc is not None and d.proc.returncode is None:
            d.proc.send_signal(signal.SIGCONT)  # a frozen (SIGSTOPped) leader must run again to be killed
            await d.kill()
