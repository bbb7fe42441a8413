"""Protective stops move by in-place edits through the whole daemon; a refused edit falls back to
cancel-and-replace with its window measured (issue #21)."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import aiohttp
import pytest

from market_data.protective_stop import CLIENT_ID_PREFIX
from simulator.app import RunningSimulator
from simulator.engine.orders import SimOrder
from tests.e2e.harness import (
    Daemon,
    buy_alert,
    e2e_settings,
    eventually,
    module_simulator,
    running_daemon,
)

SYMBOL = "BTC-USD"


sim = module_simulator(SYMBOL)


def stop_orders(sim: RunningSimulator) -> list[SimOrder]:
    return [o for o in sim.engine.orders.values() if o.client_order_id.startswith(CLIENT_ID_PREFIX)]


def open_stop_orders(sim: RunningSimulator) -> list[SimOrder]:
    return [o for o in stop_orders(sim) if not o.terminal]


async def get_json(d: Daemon, path: str) -> Any:
    url = f"http://127.0.0.1:{d.parts['port']}{path}"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        text = await resp.text()
        return json.loads(text) if path != "/metrics" else text


@pytest.mark.slow
async def test_trailing_stop_rises_five_times_by_edits_then_falls_back(db_url: str, sim: RunningSimulator) -> None:
    settings = e2e_settings(protective_stop_enabled=True, take_profit_pct="50", protective_stop_min_interval_s=0)
    sim.set_price(SYMBOL, D("100"))
    async with running_daemon(db_url, sim, settings) as d:
        assert (await d.post_alert(buy_alert(SYMBOL, id="pe-entry")))[0] == 200
        await eventually(lambda: any(p.symbol == SYMBOL for p in d.parts["positions"].open_positions()),
                         what="priced position")
        protective = d.parts["protective"]
        monitor = d.parts["monitor"]
        entry = d.entry_price(SYMBOL)
        sim.set_price(SYMBOL, entry * D("1.04"))  # activates the trailing stop → the protective stop is placed
        placed = await eventually(lambda: protective.order(SYMBOL), what="protective stop placed")
        [resting] = open_stop_orders(sim)
        assert resting.order_id == placed.order_id and resting.spec.order_type == "STOP_LIMIT"

        # Five rises: each raises the trailing stop by more than the bypass threshold → five edits.
        stops = [monitor.trailing_stop(SYMBOL).current_stop]
        for i in range(1, 6):
            sim.set_price(SYMBOL, entry * (D("1.04") + D("0.02") * i))
            await eventually(lambda n=i: protective.moves.counts["edit"] == n, what=f"edit {i}")
            stops.append(monitor.trailing_stop(SYMBOL).current_stop)
        assert stops == sorted(set(stops))  # rose five times
        [edited] = open_stop_orders(sim)
        assert edited.order_id == placed.order_id  # one order, never left the book
        assert len(edited.edit_history) == 5
        history = [h.stop_price for h in edited.edit_history]
        assert history == sorted(set(history))  # each edit raised the stop
        assert edited.spec.stop_price == protective.order(SYMBOL).stop_price
        assert len(stop_orders(sim)) == 1  # nothing was ever cancelled or re-placed: no orphan
        summary = protective.moves.summary()
        assert summary["moves"] == {"edit": 5, "cancel_replace": 0}
        assert summary["unprotected_max_s"]["edit"] == 0.0 and summary["unprotected_total_s"]["edit"] == 0.0
        health = await get_json(d, "/health/trailing_stop")
        assert health["details"]["protective_stop"]["moves"]["edit"] == 5
        assert health["details"]["protective_stop"]["unprotected_max_s"]["edit"] == 0.0
        metrics = await get_json(d, "/metrics")
        assert 'bt_protective_stop_move_unprotected_seconds_bucket{le="0.0",method="edit"}' in metrics

        # The exchange now refuses edits: the move falls back to cancel-and-replace, window measured.
        sim.faults.add("edit_reject", edit_failure_reason="ORDER_IS_ALREADY_BEING_REPLACED")
        try:
            for n, rise in enumerate((D("1.16"), D("1.18")), start=1):
                sim.set_price(SYMBOL, entry * rise)
                await eventually(lambda n=n: protective.moves.counts["cancel_replace"] == n,
                                 what=f"fallback move {n}")
        finally:
            sim.faults.clear("edit_reject")
        fallback = [r for r in protective.moves.records if r.method == "cancel_replace"]
        assert len(fallback) == 2
        assert all(r.refusal == "ORDER_IS_ALREADY_BEING_REPLACED" for r in fallback)
        assert all(isinstance(r.unprotected_s, float) and r.unprotected_s >= 0 for r in fallback)
        [now_resting] = open_stop_orders(sim)  # exactly one stop on the book: the old ones are cancelled
        assert now_resting.order_id == protective.order(SYMBOL).order_id != placed.order_id
        assert {o.status for o in stop_orders(sim) if o.order_id != now_resting.order_id} == {"CANCELLED"}
        health = await get_json(d, "/health/trailing_stop")
        assert health["details"]["protective_stop"]["moves"] == {"edit": 5, "cancel_replace": 2}
        assert health["details"]["protective_stop"]["edit_refusals"] == {"ORDER_IS_ALREADY_BEING_REPLACED": 2}
        metrics = await get_json(d, "/metrics")
        assert 'bt_protective_stop_move_unprotected_seconds_count{method="cancel_replace"}' in metrics
