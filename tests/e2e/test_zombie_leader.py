"""A paused leader (SIGSTOP) loses the lock by itself; the standby takes over and trades; the old
leader, resumed (SIGCONT), notices, steps down and sends nothing — the simulator's ledger proves it."""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal as D

import pytest

from simulator.app import RunningSimulator
from tests.e2e import leader_harness
from tests.e2e.ha_support import (
    fills_recorded_exactly_once,
    health,
    no_duplicated_order,
    order_counts,
    post,
    query,
    role_of,
    sim_orders,
    start_pair,
)
from tests.e2e.harness import buy_alert, eventually
from tests.e2e.leader_harness import BTC, ETH
from tests.e2e.process_harness import DaemonProcess, daemon_env

sim, daemons = leader_harness.sim, leader_harness.daemons  # the shared fixtures, under the names asked for


@pytest.mark.slow
async def test_zombie_leader_steps_down_and_sends_nothing(db_url: str, sim: RunningSimulator,
                                                          daemons: list[DaemonProcess]) -> None:
    env = daemon_env(db_url, sim, sim.create_api_key())
    zombie, standby = await start_pair(env, daemons)
    sim.set_price(BTC, D("100"))
    sim.set_price(ETH, D("100"))
    assert await post(zombie.alert_url, buy_alert(BTC)) == 200
    await eventually(lambda: query(db_url, "SELECT 1 FROM fills WHERE symbol=$1", BTC), timeout=30,
                     what="BTC entry filled")
    await eventually(lambda: query(db_url, "SELECT 1 FROM trailing_stop_state WHERE symbol=$1", BTC),
                     what="trailing stop created by the first leader")

    assert zombie.proc is not None
    zombie.proc.send_signal(signal.SIGSTOP)  # paused: its sockets stay open, it just stops talking
    await standby.wait_event("leader_first_sweep", timeout=60)
    assert role_of(await health(standby)) == "leader"

    # The new leader trades while the old one is frozen: a stop-loss exit and a new entry.
    sim.set_price(BTC, D("90"))
    exit_row = await eventually(lambda: query(db_url, "SELECT exit_reason FROM trade_records WHERE symbol=$1 "
                                                      "AND side='SELL' AND status='FILLED'", BTC),
                                timeout=30, what="stop-loss exit by the new leader")
    assert exit_row[0]["exit_reason"] is not None
    assert await post(standby.alert_url, buy_alert(ETH, notional="150")) == 200
    await eventually(lambda: query(db_url, "SELECT 1 FROM fills WHERE symbol=$1", ETH), timeout=30,
                     what="ETH entry by the new leader")
    await fills_recorded_exactly_once(db_url, sim)
    orders_before = {o.order_id for o in sim_orders(sim)}
    zombie_lines = len(zombie.lines)

    # Resume the old leader: its memory still holds the BTC position and a cache from before.
    zombie.proc.send_signal(signal.SIGCONT)
    stepped = await zombie.wait_event("leader_stepped_down", timeout=30)
    print(f"\nzombie stepped down: {stepped['reason']}")
    # It comes back as a standby (same process, re-executed) ...
    await eventually(lambda: len(zombie.find("webhook_ready")) >= 2, timeout=90, what="zombie back as standby")
    assert zombie.find("webhook_ready")[-1]["role"] == "standby"
    assert role_of(await health(zombie)) == "standby"
    # ... and the exchange saw nothing from it: give it a moment to misbehave if it were going to.
    sim.set_price(BTC, D("89"))
    sim.set_price(ETH, D("101"))
    await asyncio.sleep(3)
    assert {o.order_id for o in sim_orders(sim)} == orders_before
    after_resume = zombie.events[zombie_lines:] if len(zombie.events) >= zombie_lines else zombie.events
    assert not [e for e in after_resume if e.get("event") in ("order_placed", "order_created")]
    # If it acted on its stale view (it still held the BTC position), that went nowhere: the fence
    # (order_fenced) or the step-down came first; the simulator ledger above is the proof.
    decided = [e for e in after_resume if e.get("event") == "exit_decided"]
    print(f"zombie exit decisions after SIGCONT: {[(e['symbol'], e['reason']) for e in decided]}; "
          f"fenced: {len([e for e in after_resume if e.get('event') == 'order_fenced'])}")

    assert order_counts(sim) == {(BTC, "BUY"): 1, (BTC, "SELL"): 1, (ETH, "BUY"): 1}, order_counts(sim)
    await fills_recorded_exactly_once(db_url, sim)
    await no_duplicated_order(db_url, sim)
    events = await query(db_url, "SELECT epoch, event FROM leadership_events ORDER BY id")
    assert [(e["epoch"], e["event"]) for e in events] == [(1, "takeover"), (2, "takeover")]
    assert await standby.terminate() == 0
    assert await zombie.terminate() == 0
