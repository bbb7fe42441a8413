"""Two webhook processes, one simulator: SIGKILL the leader with an open position and an active
trailing stop; the standby takes over, the stop keeps moving from its persisted state and fires,
alerts posted to the standby meanwhile run once, and neither fills nor orders are ever doubled."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from simulator.app import RunningSimulator
from tests.e2e import leader_harness
from tests.e2e.ha_support import (
    fills_recorded_exactly_once,
    health,
    kill_and_time_takeover,
    no_duplicated_order,
    order_counts,
    post,
    query,
    role_of,
    start_pair,
)
from tests.e2e.harness import buy_alert, eventually
from tests.e2e.leader_harness import BTC, ETH
from tests.e2e.process_harness import DaemonProcess, daemon_env

sim, daemons = leader_harness.sim, leader_harness.daemons  # the shared fixtures, under the names asked for


async def _trailing(db_url: str) -> dict | None:
    rows = await query(db_url, "SELECT * FROM trailing_stop_state WHERE symbol = $1", BTC)
    return dict(rows[0]) if rows else None


async def _alerts(db_url: str) -> list[dict]:
    return [dict(r) for r in await query(db_url, "SELECT id, symbol, status, client_order_id FROM alerts ORDER BY id")]


@pytest.mark.slow
async def test_standby_takes_over_from_a_killed_leader(db_url: str, sim: RunningSimulator,
                                                       daemons: list[DaemonProcess]) -> None:
    env = daemon_env(db_url, sim, sim.create_api_key())
    leader, standby = await start_pair(env, daemons)
    assert role_of(await health(leader)) == "leader" and role_of(await health(standby)) == "standby"

    # An alert posted to the standby is stored there and executed by the leader's worker.
    sim.set_price(BTC, D("100"))
    sim.set_price(ETH, D("100"))
    assert await post(standby.alert_url, buy_alert(BTC)) == 200
    entry_row = await eventually(lambda: query(db_url, "SELECT SUM(size*price)/SUM(size) AS p FROM fills "
                                                       "WHERE symbol=$1 AND side='BUY' HAVING COUNT(*) > 0", BTC),
                                 timeout=30, what="BTC entry filled")
    entry = entry_row[0]["p"]
    assert leader.find("order_placed", symbol=BTC) and not standby.find("order_placed")

    # Activate the trailing stop and raise its high twice (persisted by the leader).
    await eventually(lambda: _trailing(db_url), what="trailing stop created")
    sim.set_price(BTC, entry * D("1.04"))
    await eventually(lambda: _state_is(db_url, "active"), what="trailing stop active")
    for step in ("1.045", "1.05"):
        before = await _trailing(db_url)
        sim.set_price(BTC, entry * D(step))
        await eventually(lambda b=before: _raised(db_url, b), what=f"high raised at {step}")
    before_kill = await _trailing(db_url)
    assert before_kill is not None
    # Meanwhile the standby's read-only view followed the leader's fills (dashboard, health).
    await standby.wait_event("standby_view_refreshed", timeout=30, positions=1)

    failover_s, first_sweep = await kill_and_time_takeover(leader, standby)
    # Posted to the (former) standby while it takes over: executed once, by whoever leads.
    assert await post(standby.alert_url, buy_alert(ETH, notional="150")) == 200
    print(f"\nfailover: leader SIGKILL → new leader's first sentinel sweep = {failover_s:.3f} s "
          f"(goal ≤ 5 s; restore {first_sweep['restore_ms']} ms, reconcile+sweep "
          f"{first_sweep['reconcile_and_sweep_ms']} ms, since lock {first_sweep['since_lock_ms']} ms)")
    assert first_sweep["positions"] >= 1 and first_sweep["trailing_stops"] == 1
    assert role_of(await health(standby)) == "leader"

    # The trailing stop continues from the persisted state, not from scratch.
    restored = await _trailing(db_url)
    assert restored is not None
    for column in ("state", "activated_at", "highest_price", "current_stop", "entry_price"):
        assert restored[column] == before_kill[column], column
    sim.set_price(BTC, entry * D("1.058"))
    await eventually(lambda: _raised(db_url, restored), what="high raised by the new leader")
    moved = await _trailing(db_url)
    assert moved is not None
    assert moved["current_stop"] >= restored["current_stop"]
    assert moved["update_count"] > restored["update_count"]
    assert moved["activated_at"] == before_kill["activated_at"]

    # It fires by its reason.
    sim.set_price(BTC, moved["current_stop"] * D("0.995"))
    exit_row = await eventually(lambda: query(db_url, "SELECT * FROM trade_records WHERE symbol=$1 AND side='SELL' "
                                                      "AND status='FILLED'", BTC), timeout=30, what="trailing exit")
    assert exit_row[0]["exit_reason"] == "trailing_stop"
    assert standby.find("order_placed", symbol=BTC, side="SELL")

    # The ETH alert posted during the failover: executed exactly once.
    await eventually(lambda: query(db_url, "SELECT 1 FROM fills WHERE symbol=$1", ETH), timeout=30,
                     what="ETH alert filled")
    alerts = await _alerts(db_url)
    assert [(a["symbol"], a["status"]) for a in alerts] == [(BTC, "ordered"), (ETH, "ordered")], alerts

    await fills_recorded_exactly_once(db_url, sim)
    await no_duplicated_order(db_url, sim)
    assert order_counts(sim) == {(BTC, "BUY"): 1, (BTC, "SELL"): 1, (ETH, "BUY"): 1}, order_counts(sim)
    events = await query(db_url, "SELECT epoch, event FROM leadership_events ORDER BY id")
    assert [(e["epoch"], e["event"]) for e in events] == [(1, "takeover"), (2, "takeover")]
    assert await standby.terminate() == 0


async def _state_is(db_url: str, state: str) -> bool:
    row = await _trailing(db_url)
    return row is not None and row["state"] == state


async def _raised(db_url: str, before: dict) -> bool:
    row = await _trailing(db_url)
    return row is not None and row["highest_price"] > before["highest_price"]
