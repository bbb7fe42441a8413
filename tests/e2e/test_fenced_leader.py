"""A leader cut off from the database (its lock session ended while it was frozen) but not from the
exchange: it has not noticed yet (its next heartbeat is far away) and acts on its stale view. The
epoch check in the order-row transaction stops it: nothing reaches the exchange, it steps down, and
the alert it was handling is executed once, by the new leader."""

from __future__ import annotations

import signal
import time
from decimal import Decimal as D
from typing import Any

import aiohttp
import pytest

from shared_data.advisory_keys import NAMESPACE_LEADER, as_int4
from simulator.app import RunningSimulator
from tests.e2e import leader_harness
from tests.e2e.ha_support import (
    fills_recorded_exactly_once,
    no_duplicated_order,
    order_counts,
    post,
    query,
    sim_orders,
    start_pair,
)
from tests.e2e.harness import buy_alert, eventually
from tests.e2e.leader_harness import BTC, ETH
from tests.e2e.process_harness import DaemonProcess, daemon_env

sim, daemons = leader_harness.sim, leader_harness.daemons  # the shared fixtures, under the names asked for


@pytest.mark.slow
async def test_partitioned_leader_is_fenced_in_the_order_transaction(db_url: str, sim: RunningSimulator,
                                                                      daemons: list[DaemonProcess]) -> None:
    key = sim.create_api_key()
    # The first leader renews its lease only every 20 s: it will not notice the cut by itself in time.
    slow = daemon_env(db_url, sim, key, LEADER_LEASE_S="60")
    zombie, standby = await start_pair(slow, daemons, standby_env=daemon_env(db_url, sim, key))
    sim.set_price(BTC, D("100"))
    sim.set_price(ETH, D("100"))
    assert await post(zombie.alert_url, buy_alert(BTC)) == 200
    await eventually(lambda: query(db_url, "SELECT 1 FROM fills WHERE symbol=$1", BTC), timeout=30,
                     what="BTC entry filled")

    assert zombie.proc is not None
    # Freeze it just after a lease heartbeat: its next one is then a whole heartbeat interval (20 s) away.
    # Frozen at a random moment, its overdue heartbeat could fire the instant it resumes and find the lock
    # lost before any order is tried: it would step down without ever reaching the fence (the flaky case).
    await eventually(lambda: _heartbeat_just_done(db_url), timeout=30, interval=0.05,
                     what="a fresh lease heartbeat of the leader")
    zombie.proc.send_signal(signal.SIGSTOP)
    frozen_at = time.monotonic()
    # Cut it from the database: its lock session ends (as a network partition would end it).
    ended = await query(db_url, f"SELECT pg_terminate_backend(pid) AS ok FROM {_LEADER_LOCK}",
                        as_int4(NAMESPACE_LEADER))
    assert [r["ok"] for r in ended] == [True]
    await standby.wait_event("leader_first_sweep", timeout=60)
    sim.set_price(BTC, D("90"))  # the new leader exits
    await eventually(lambda: query(db_url, "SELECT 1 FROM trade_records WHERE symbol=$1 AND side='SELL' "
                                           "AND status='FILLED'", BTC), timeout=30, what="exit by the new leader")
    await fills_recorded_exactly_once(db_url, sim)
    orders_before = {o.order_id for o in sim_orders(sim)}
    mark = len(zombie.events)

    zombie.proc.send_signal(signal.SIGCONT)
    frozen_s = time.monotonic() - frozen_at
    # An alert reaches the old leader: its worker takes it at once and tries to place the order.
    try:
        status = await post(zombie.alert_url, buy_alert(ETH, notional="150"))
    except aiohttp.ClientError:  # it may have stepped down (re-executed) before reading the request
        status = await post(standby.alert_url, buy_alert(ETH, notional="150"))
    assert status == 200
    fenced = await zombie.wait_event("leader_fenced", timeout=30)
    await zombie.wait_event("leader_stepped_down", timeout=30)
    after = zombie.events[mark:]
    shown = ("exit_decided", "order_fenced", "leader_fenced", "leader_stepped_down")
    print(f"\nold leader frozen {frozen_s:.1f} s, fenced: my_epoch={fenced['my_epoch']} "
          f"current={fenced['current_epoch']}; after SIGCONT: "
          f"{[(e['event'], e.get('symbol') or e.get('reason')) for e in after if e.get('event') in shown]}")
    assert not [e for e in after if e.get("event") in ("order_placed", "order_created")]

    # The alert is executed exactly once, by the new leader.
    await eventually(lambda: query(db_url, "SELECT 1 FROM fills WHERE symbol=$1", ETH), timeout=30,
                     what="ETH alert executed by the new leader")
    # The fill can be recorded (user channel) before the worker writes the alert's outcome.
    alerts = await eventually(lambda: _settled_alerts(db_url, ETH), timeout=30, what="ETH alert settled")
    assert [(a["symbol"], a["status"]) for a in alerts] == [(ETH, "ordered")]
    new_orders = [o for o in sim_orders(sim) if o.order_id not in orders_before]
    assert [(o.product_id, o.side) for o in new_orders] == [(ETH, "BUY")]
    assert standby.find("order_placed", symbol=ETH)
    assert order_counts(sim) == {(BTC, "BUY"): 1, (BTC, "SELL"): 1, (ETH, "BUY"): 1}, order_counts(sim)
    await fills_recorded_exactly_once(db_url, sim)
    await no_duplicated_order(db_url, sim)
    await eventually(lambda: len(zombie.find("webhook_ready")) >= 2, timeout=90, what="old leader back as standby")
    assert zombie.find("webhook_ready")[-1]["role"] == "standby"
    assert await standby.terminate() == 0
    assert await zombie.terminate() == 0


# The leader's lock: granted in this test's database only (other runs on the same server hold their own).
_LEADER_LOCK = ("pg_locks WHERE locktype = 'advisory' AND classid::int4 = $1 AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")


async def _heartbeat_just_done(db_url: str) -> bool:
    """The lock session's last statement is the lease heartbeat (its query reads pg_backend_pid()), it
    has finished, and it started under 2 s ago."""
    rows = await query(db_url, "SELECT 1 FROM pg_stat_activity a WHERE a.pid IN (SELECT pid FROM "
                               f"{_LEADER_LOCK}) AND a.state = 'idle' AND a.query LIKE '%pg_backend_pid()%' "
                               "AND clock_timestamp() - a.query_start < interval '2 seconds'",
                       as_int4(NAMESPACE_LEADER))
    return bool(rows)


async def _settled_alerts(db_url: str, symbol: str) -> list[Any] | None:
    rows = await query(db_url, "SELECT symbol, status FROM alerts WHERE symbol=$1", symbol)
    return None if any(r["status"] == "accepted" for r in rows) else rows
