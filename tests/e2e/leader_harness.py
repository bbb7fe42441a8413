"""Fixtures shared by the leadership e2e tests (failover, zombie and fenced leader): one simulator per
module quoting BTC and ETH, and the list of webhook processes a test starts, all stopped after it."""

from __future__ import annotations

from tests.e2e.harness import module_simulator
from tests.e2e.process_harness import daemons

BTC, ETH = "BTC-USD", "ETH-USD"

sim = module_simulator(BTC, ETH)

__all__ = ["BTC", "ETH", "daemons", "sim"]
