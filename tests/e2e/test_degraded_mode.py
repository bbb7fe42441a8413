"""A fault storm on the order endpoints (5xx and timeouts) puts the whole daemon in degraded mode:
an entry is refused, an exit still executes, and it recovers by itself when the faults stop (issue #21)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, text

from exchange.port import ExchangeError
from shared_data.models import Alert
from simulator.app import RunningSimulator
from tests.e2e.harness import Daemon, buy_alert, e2e_settings, eventually, running_daemon, start_test_simulator

HOLD, ENTRY, BLOCKED = "SOL-USD", "ETH-USD", "LTC-USD"


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), [HOLD, ENTRY, BLOCKED])
    try:
        yield running
    finally:
        await running.stop()


async def alert_row(d: Daemon, key: str) -> tuple[str, str | None] | None:
    async with d.sessions() as session:
        row = (await session.execute(select(Alert.status, Alert.status_reason, Alert.reason_code)
                                     .where(Alert.dedup_key == key))).first()
    if row is None or row.status == "accepted":
        return None
    # The stored code names the real cause (webhook/alerts/reasons.py), not a position cap.
    assert row.status != "rejected_risk" or row.reason_code == "degraded_mode", row
    return (row.status, row.status_reason)


async def degraded_rows(d: Daemon) -> tuple[Any, list[str]]:
    async with d.sessions() as session:
        state = (await session.execute(text("SELECT active, family, cause FROM degraded_mode_state"))).first()
        events = list((await session.execute(text("SELECT event FROM degraded_mode_events ORDER BY id"))).scalars())
    return state, events


async def get(d: Daemon, path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{d.parts['port']}{path}") as resp:
        body = await resp.text()
    return body if path == "/metrics" else json.loads(body)


@pytest.mark.slow
async def test_fault_storm_degrades_refuses_entry_exits_and_recovers(db_url: str, sim: RunningSimulator) -> None:
    settings = e2e_settings(rest_max_retries=1, rest_backoff_base_s=0.05, rest_backoff_max_s=0.1, rest_timeout_s=1,
                            degraded_error_threshold=3, degraded_window_s=120, degraded_recovery_successes=40,
                            degraded_notify_every_s=1)
    for p in (HOLD, ENTRY, BLOCKED):
        sim.set_price(p, D("100"))
    async with running_daemon(db_url, sim, settings) as d:
        degraded = d.parts["degraded"]
        assert (await d.post_alert(buy_alert(HOLD, id="dm-hold")))[0] == 200
        await eventually(lambda: any(p.symbol == HOLD for p in d.parts["positions"].open_positions()),
                         what="position to exit later")
        assert not degraded.active

        # The storm: every order endpoint answers 503, or stalls past the client timeout.
        sim.faults.add("slow", path="/orders*", probability=0.5, delay_s=3, process=False)
        sim.faults.add("http_5xx", path="/orders*", status=503)
        assert (await d.post_alert(buy_alert(ENTRY, id="dm-storm")))[0] == 200

        async def storm_until_degraded() -> bool:
            if not degraded.active:
                try:  # the daemon's own reconciliation keeps calling the order endpoints
                    await d.parts["reconciler"].run_once("test")
                except ExchangeError:
                    pass
            return degraded.active

        await eventually(storm_until_degraded, timeout=60, what="degraded mode")
        await degraded.flush()
        state, events = await degraded_rows(d)
        assert state.active is True and state.family == "orders" and "orders errors/timeouts" in state.cause
        assert events == ["enter"]
        health = await get(d, "/health")
        assert health["details"]["degraded_mode"]["active"] is True
        assert "bt_degraded_mode 1.0" in await get(d, "/metrics")
        dashboard = await get(d, "/api/dashboard/health")
        shown = [b for b in dashboard["breakers"] if b["name"] == "degraded_mode"]
        assert shown and shown[0]["tripped"] is True and "orders" in shown[0]["reason"]
        assert dashboard["entries_halted"] is True

        # No new entries while degraded (refused before any exchange call).
        assert (await d.post_alert(buy_alert(BLOCKED, id="dm-blocked")))[0] == 200
        status, reason = await eventually(lambda: alert_row(d, "dm-blocked"), what="entry refused")
        assert status == "rejected_risk" and reason is not None and "degraded mode" in reason

        # The faults stop; the daemon is still degraded, and an exit still goes out and fills.
        sim.faults.clear("slow")
        sim.faults.clear("http_5xx")
        entry = d.entry_price(HOLD)
        sim.set_price(HOLD, entry * D("0.90"))  # past the hard stop

        async def hard_stop_filled() -> bool:
            return any(r.exit_reason == "hard_stop" and r.status == "FILLED" for r in await d.sells(HOLD))

        await eventually(hard_stop_filled, timeout=30, what="hard-stop exit filled")
        assert degraded.active  # the exit went through in degraded mode

        # A run of successful calls ends degraded mode by itself.
        async def recovered() -> bool:
            if degraded.active:
                await d.parts["reconciler"].run_once("test")
            return not degraded.active

        await eventually(recovered, timeout=60, what="recovery")
        await degraded.flush()
        state, events = await degraded_rows(d)
        assert state.active is False and events == ["enter", "leave"]
        after = (await get(d, "/health"))["details"]["degraded_mode"]
        assert after["active"] is False and [h["event"] for h in after["history"]] == ["leave", "enter"]
        assert "bt_degraded_mode 0.0" in await get(d, "/metrics")
        assert (await d.post_alert(buy_alert(BLOCKED, id="dm-after")))[0] == 200
        status, _ = await eventually(lambda: alert_row(d, "dm-after"), what="entry after recovery")
        assert status == "ordered"
