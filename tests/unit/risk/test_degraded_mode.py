"""Degraded mode: the pure state machine, and the running mode's gate, intervals and repeated notices."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

from core.clock import ManualClock
from core.settings import load_settings
from risk.degraded.gate import DegradedEntryGate
from risk.degraded.machine import DegradedMachine, DegradedParams, DegradedState
from risk.degraded.mode import DegradedMode
from tests.unit.market_data.inmemory import ListNotifier

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
P = DegradedParams(error_threshold=3, window_s=60.0, recovery_successes=4)


def test_enters_on_n_errors_of_one_family_within_the_window() -> None:
    m = DegradedMachine(P)
    assert m.failure("orders", "503", 0.0, T0) is None
    assert m.failure("orders", "503", 10.0, T0) is None
    assert m.failure("market", "timeout", 11.0, T0) is None  # another family counts apart
    t = m.failure("orders", "timeout", 20.0, T0)
    assert t is not None and t.event == "enter" and t.family == "orders" and "3 orders errors" in t.cause
    assert m.state.active and m.failure("orders", "503", 21.0, T0) is None  # no second enter


def test_old_errors_leave_the_window() -> None:
    m = DegradedMachine(P)
    m.failure("orders", "x", 0.0, T0)
    m.failure("orders", "x", 30.0, T0)
    assert m.failure("orders", "x", 61.0, T0) is None  # the first one is 61 s old
    assert not m.state.active


def test_leaves_after_a_run_of_successes_and_a_failure_restarts_the_run() -> None:
    m = DegradedMachine(P)
    for i in range(3):
        m.failure("orders", "x", float(i), T0)
    for _ in range(3):
        assert m.success("orders", T0) is None
    m.failure("market", "x", 5.0, T0)  # breaks the run
    assert m.recovery_progress == 0
    for _ in range(3):
        assert m.success("account", T0) is None
    t = m.success("orders", T0)
    assert t is not None and t.event == "leave" and t.family == "orders" and not m.state.active


def test_restored_state_stays_degraded_until_recovery() -> None:
    m = DegradedMachine(P)
    m.restore(DegradedState(True, "orders", "before restart", T0))
    assert m.state.active
    transitions = [m.success("orders", T0) for _ in range(4)]
    assert transitions[-1] is not None and transitions[-1].event == "leave"


class AllowAll:
    async def check_entry(self, symbol: str, notional: Decimal, account_value: Decimal,
                          quote_age_s: float | None, *, state_rows: object = None) -> object:
        return "allowed"


async def test_mode_gates_entries_slows_reconciliation_and_repeats_notices() -> None:
    settings = load_settings(degraded_error_threshold=2, degraded_recovery_successes=2, degraded_notify_every_s=0.01,
                             degraded_reconcile_factor=4)
    notifier = ListNotifier()
    mode = DegradedMode(settings, None, notifier, ManualClock(T0))
    gate = DegradedEntryGate(AllowAll(), mode)
    assert await gate.check_entry("BTC-USD", Decimal(1), Decimal(1), None) == "allowed"
    assert mode.reconcile_interval_s(300) == 300
    mode.observe_failure("orders", "503")
    mode.observe_failure("orders", "timeout")
    assert mode.active and mode.status()["family"] == "orders"
    refusal = await gate.check_entry("BTC-USD", Decimal(1), Decimal(1), None)
    assert refusal.allowed is False and "degraded mode" in refusal.reasons[0]
    assert mode.reconcile_interval_s(300) == 1200
    stop = asyncio.Event()
    task = asyncio.create_task(mode.run(stop))
    for _ in range(1000):  # the enter notice, then repeats (bounded: never hang)
        if notifier.topics().count("degraded_mode") >= 3:
            break
        await asyncio.sleep(0.01)
    assert notifier.topics().count("degraded_mode") >= 3
    stop.set()
    await task
    mode.observe_success("orders")
    mode.observe_success("market")
    await mode.flush()
    assert not mode.active and [t.event for t in mode.transitions] == ["enter", "leave"]
    assert "ended" in notifier.messages[-1][1]


async def test_an_idle_daemon_probes_its_way_out_of_degraded_mode() -> None:
    """Recovery needs a run of successful calls; the probe makes them while degraded, and only then."""
    settings = load_settings(degraded_error_threshold=1, degraded_recovery_successes=3)
    mode = DegradedMode(settings, None, ListNotifier(), ManualClock(T0))
    calls: list[str] = []

    async def server_time() -> None:  # stands for the monitored exchange's read: it reports its outcome
        calls.append("time")
        mode.observe_success("account")

    stop = asyncio.Event()
    task = asyncio.create_task(mode.probe(stop, server_time, 0.001))
    await asyncio.sleep(0.02)
    assert calls == []  # not degraded: no probing
    mode.observe_failure("orders", "429")
    assert mode.active
    for _ in range(1000):  # bounded: never hang
        if not mode.active:
            break
        await asyncio.sleep(0.005)
    assert not mode.active and len(calls) == 3
    stop.set()
    await task
    await mode.flush()
