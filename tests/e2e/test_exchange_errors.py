"""Exchange errors during order placement: no duplicate order, no crash, bounded retries in metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.metrics import REGISTRY
from shared_data.models import Alert
from simulator.app import RunningSimulator
from tests.e2e.harness import Daemon, buy_alert, e2e_settings, eventually, running_daemon, start_test_simulator

PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD", "LTC-USD", "AVAX-USD", "ADA-USD"]
# (fault kind, schedule + params): each hits POST /orders, the create call.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("http_429", {"count": 3, "body": "html"}),
    ("http_5xx", {"count": 2, "status": 503, "body": "json"}),
    ("slow", {"count": 1, "delay_s": 3.5, "process": True}),  # created, but the answer comes too late
    ("reset", {"count": 1, "process": True}),  # created, then the connection drops
    ("http_401", {"count": 1}),
]


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), PRODUCTS)
    try:
        yield running
    finally:
        await running.stop()


def retries() -> float:
    return sum(s.value for m in REGISTRY.collect() if m.name == "bt_rest_retries" for s in m.samples
               if s.name.endswith("_total"))


def orders_on(sim: RunningSimulator, symbol: str) -> int:
    return sum(1 for o in sim.engine.orders.values() if o.product_id == symbol)


async def _alert_status(d: Daemon, dedup_id: str) -> str | None:
    async with d.sessions() as session:
        return (await session.execute(select(Alert.status).where(Alert.dedup_key == dedup_id))).scalar_one_or_none()


@pytest.mark.slow
async def test_order_placement_survives_exchange_errors(db_url: str, sim: RunningSimulator) -> None:
    # Probing every 0.5 s (not the default 3 s): leaving degraded mode takes its 10 successful probes
    # in seconds, not half a minute; what is checked (idle, it probes its way out) is the same.
    settings = e2e_settings(rest_timeout_s=2.0, rest_backoff_base_s=0.05, rest_backoff_max_s=0.3,
                            degraded_probe_interval_s=0.5)
    for p in PRODUCTS:
        sim.set_price(p, D("100"))
    async with running_daemon(db_url, sim, settings) as d:
        for (kind, params), symbol in zip(CASES, PRODUCTS, strict=False):
            before = retries()
            sim.faults.add(kind, path="/orders", method="POST", **params)
            status, body = await d.post_alert(buy_alert(symbol, id=f"err-{kind}"))
            assert status == 200, body
            await eventually(lambda s=symbol: d.position_size(s) > 0, timeout=30, what=f"{symbol} filled after {kind}")
            # The fill can arrive over the WebSocket before the (slow) create answer: wait for the alert too.
            assert await eventually(lambda k=kind: _settled(d, f"err-{k}"), timeout=30, what="alert settled") \
                == "ordered"
            await asyncio.sleep(0.5)
            assert orders_on(sim, symbol) == 1, f"{kind}: duplicate order"
            assert retries() > before, f"{kind}: retries not counted"
            sim.faults.clear()

        # A 429 storm longer than the retry budget: the alert fails cleanly, nothing is ordered, nothing crashes.
        storm_symbol = PRODUCTS[-1]
        sim.faults.add("http_429", path="/orders", method="POST", count=50, body="json")
        status, _ = await d.post_alert(buy_alert(storm_symbol, id="err-storm"))
        assert status == 200
        final = await eventually(lambda: _settled(d, "err-storm"), timeout=60, what="storm alert settled")
        sim.faults.clear()
        assert final in ("failed", "ordered")
        assert orders_on(sim, storm_symbol) <= 1
        # The storm put the daemon in degraded mode (no new entries, issue #21); idle, it probes the
        # exchange and leaves by itself once the calls succeed again — then it trades.
        degraded = d.parts["degraded"]
        await eventually(lambda: not degraded.active, timeout=90, what="degraded mode left")
        assert [t.event for t in degraded.transitions][-2:] == ["enter", "leave"], degraded.transitions
        sim.set_price(storm_symbol, D("100.05"))  # a fresh quote: entries are never sized from a stale one
        await eventually(lambda: (q := d.parts["cache"].get(storm_symbol)) is not None and q.price == D("100.05"),
                         what="fresh quote")
        status, _ = await d.post_alert(buy_alert(storm_symbol, id="after-storm", notional="120"))
        assert status == 200
        await eventually(lambda: d.position_size(storm_symbol) > 0, timeout=60, what="trading resumed")
        assert sum(d.parts["supervisor"].restarts().values()) == 0  # no loop crashed


async def _settled(d: Daemon, key: str) -> str | None:
    status = await _alert_status(d, key)
    return status if status in ("failed", "ordered", "rejected_risk") else None
