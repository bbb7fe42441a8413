"""`python main.py diagnose` (a real process) against a daemon trading on the simulator: it passes
while everything works, and fails naming the problem when an exchange stop is cancelled behind the
daemon's back (which the daemon repairs), and when the ticker feed stalls."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import suppress
from decimal import ROUND_CEILING
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from exchange.coinbase.clients import CoinbaseConfig, build_rest_adapter
from simulator.app import RunningSimulator
from tests.e2e.harness import Daemon, buy_alert, e2e_settings, eventually, running_daemon, start_test_simulator
from tests.e2e.process_harness import ROOT, daemon_env

SYMBOL = "BTC-USD"
TRADED = "ETH-USD"  # bought, activated and exited by its trailing stop while diagnose watches
TICK = D("0.01")
STALE_S = 3.0  # the staleness limit of this daemon: a stall longer than this must be reported
# The healthy watch: 15 s keeps the suite short; BT_DIAGNOSE_TEST_DURATION=60s runs the full minute.
HEALTHY_DURATION = os.environ.get("BT_DIAGNOSE_TEST_DURATION", "15s")


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), [SYMBOL, TRADED])
    try:
        yield running
    finally:
        await running.stop()


def settings() -> Settings:
    return e2e_settings(protective_stop_enabled=True, protective_stop_min_interval_s=0,
                        protective_stop_min_improvement_pct="0.01", take_profit_pct="50", quote_max_age_s=STALE_S)


async def run_diagnose(db_url: str, sim: RunningSimulator, d: Daemon, duration: str,
                       watching: asyncio.Event | None = None) -> tuple[int, dict[str, Any], str]:
    """Run the CLI; `watching` is set once it says it has started watching (its window has begun)."""
    env = daemon_env(db_url, sim, sim.create_api_key(), DIAGNOSE_WEBHOOK_URL=f"http://127.0.0.1:{d.parts['port']}",
                     PROTECTIVE_STOP_ENABLED="true", DIAGNOSE_POLL_INTERVAL_S="0.5", LOG_LEVEL="WARNING")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), "diagnose", "--duration", duration, "--json", env=env, cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    err_lines: list[str] = []

    async def read_err() -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            err_lines.append(line.decode(errors="replace"))
            if watching is not None and "diagnose: watching" in err_lines[-1]:
                watching.set()

    out, _ = await asyncio.wait_for(asyncio.gather(proc.stdout.read(), read_err()), timeout=180)
    await asyncio.wait_for(proc.wait(), timeout=30)
    assert proc.returncode is not None
    err = "".join(err_lines)
    try:
        report = json.loads(out)
    except ValueError:
        detail = f"{out.decode()}\n{err[-3000:]}"
        raise AssertionError(f"no JSON report (rc={proc.returncode}):\n{detail}") from None
    return proc.returncode, report, err


class PriceDriver:
    """Keeps the market ticking (a real feed never sits still): the given prices, then the last one again."""

    def __init__(self, sim: RunningSimulator) -> None:
        self.sim = sim
        self.prices: list[D] = []
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        i = 0
        while True:
            if self.prices:
                self.sim.set_price(SYMBOL, self.prices[min(i, len(self.prices) - 1)])
                i += 1
            await asyncio.sleep(0.4)

    def start(self, prices: list[D]) -> None:
        self.prices = prices
        if self.task is None:
            self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with suppress(asyncio.CancelledError):
                await self.task
            self.task = None


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["name"] == name)


async def _trailing_row(d: Daemon) -> Any:
    from market_data.trailing_store import TrailingStore

    return (await TrailingStore(d.sessions).load_all()).get(SYMBOL)


@pytest.mark.slow
async def test_diagnose_passes_then_names_each_injected_fault(db_url: str, sim: RunningSimulator) -> None:
    driver = PriceDriver(sim)
    async with running_daemon(db_url, sim, settings()) as d:
        try:
            sim.set_price(SYMBOL, D("100"))
            status, body = await d.post_alert(buy_alert(SYMBOL))
            assert status == 200, body
            await eventually(lambda: _held(d, SYMBOL), what="position")
            entry = d.entry_price(SYMBOL)
            high = (entry * D("1.04")).quantize(TICK)
            sim.set_price(SYMBOL, high)
            await eventually(lambda: d.parts["monitor"].trailing_stop(SYMBOL) is not None
                             and d.parts["monitor"].trailing_stop(SYMBOL).stop_order_id, what="exchange stop placed")

            # 1. Healthy: the market ticks and climbs slowly (the stop follows), a second position is
            #    opened and closed by its trailing stop meanwhile, and all checks pass.
            driver.start([high + D("0.1") * i for i in range(60)])
            watching = asyncio.Event()
            (rc, report, err), _ = await asyncio.gather(run_diagnose(db_url, sim, d, HEALTHY_DURATION, watching),
                                                        round_trip(d, sim, watching))
            assert rc == 0, json.dumps(report, indent=1)
            (ROOT / "test-artifacts").mkdir(exist_ok=True)
            (ROOT / "test-artifacts" / "diagnose-healthy.json").write_text(json.dumps(report, indent=2))
            assert report["ok"] and report["failed_checks"] == [] and report["samples"] >= 5
            btc = next(s for s in report["symbols"] if s["symbol"] == SYMBOL)
            assert btc["price_updates"] >= 10 and btc["largest_gap_s"] < STALE_S
            assert btc["stop_moves_decided"] >= 1 and btc["stop_moves_acknowledged"] >= 1
            eth = next(s for s in report["symbols"] if s["symbol"] == TRADED)
            assert eth["activations"] == 1 and eth["exits_filled"] == 1 and eth["exits_failed"] == 0, eth
            assert eth["stop_moves_acknowledged"] == 1 and eth["exit_latency_s"]["count"] == 1
            assert "diagnose: watching" in err and "no orders are placed" in err  # progress while it runs
            names = {c["name"] for c in report["checks"]}
            assert names >= {"active_stops_have_one_exchange_stop", "no_orphan_exchange_stops",
                             "positions_equal_balances", "fifo_clean", "every_position_has_a_trailing_stop",
                             "price_feed_fresh"}

            # 2. While diagnose watches, the exchange stop is cancelled behind the daemon's back (the price
            #    keeps ticking, no new high). The daemon notices (user channel), says so in the history and
            #    places it again; diagnose fails and names the lost stop, while the book is whole at the end.
            await driver.stop()
            row = await _trailing_row(d)
            driver.start([row.highest_price])
            await asyncio.sleep(1.0)  # any move in flight settles
            row = await _trailing_row(d)
            other = build_rest_adapter(_config(d.settings, sim))

            async def cancel_behind_its_back(watching: asyncio.Event) -> None:
                await asyncio.wait_for(watching.wait(), timeout=60)
                results = await other.cancel_orders([row.stop_order_id])
                assert results[0].success, results
                await eventually(lambda: _has_other_stop(d, row.stop_order_id), what="stop placed again")

            watching = asyncio.Event()
            (rc, report, _err), _ = await asyncio.gather(run_diagnose(db_url, sim, d, "6s", watching),
                                                         cancel_behind_its_back(watching))
            assert rc == 1
            assert report["failed_checks"] == ["exchange_stops_never_failed"], json.dumps(report, indent=1)
            problem = check(report, "exchange_stops_never_failed")["problems"][0]
            assert problem.startswith(f"{SYMBOL}: ") and "cancelled outside the daemon" in problem
            assert check(report, "active_stops_have_one_exchange_stop")["passed"]  # repaired by the daemon
            lost = await _fetch_events(d, "exchange_stop_failed")
            assert lost and lost[-1]["order_id"] == row.stop_order_id

            # 3. The ticker feed stalls longer than the staleness limit.
            await driver.stop()
            rc, report, _err = await run_diagnose(db_url, sim, d, f"{STALE_S + 4:.0f}s")
            assert rc == 1
            assert report["failed_checks"] == ["price_feed_fresh"], report["failed_checks"]
            problem = check(report, "price_feed_fresh")["problems"][0]
            assert problem.startswith(f"{SYMBOL}: no price update for") and "staleness limit 3.0s" in problem
        finally:
            await driver.stop()


def _held(d: Daemon, symbol: str) -> bool:
    return any(p.symbol == symbol for p in d.parts["positions"].open_positions())


async def round_trip(d: Daemon, sim: RunningSimulator, watching: asyncio.Event) -> None:
    """Buy, activate (the exchange stop is placed), then trade just above the stop: the best bid is at or
    under it, the last trade above the exchange stop, so the sentinel's exit goes first and fills."""
    await asyncio.wait_for(watching.wait(), timeout=60)
    sim.set_price(TRADED, D("50"))
    status, body = await d.post_alert(buy_alert(TRADED))
    assert status == 200, body
    await eventually(lambda: _held(d, TRADED), what=f"{TRADED} position")
    entry = d.entry_price(TRADED)
    sim.set_price(TRADED, entry)
    monitor = d.parts["monitor"]
    await eventually(lambda: monitor.trailing_stop(TRADED) is not None, what=f"{TRADED} trailing stop")
    sim.set_price(TRADED, (entry * D("1.04")).quantize(TICK))
    await eventually(lambda: (t := monitor.trailing_stop(TRADED)) is not None and t.stop_order_id,
                     what=f"{TRADED} exchange stop")
    stop = monitor.trailing_stop(TRADED).current_stop
    last = (stop / TICK).to_integral_value(rounding=ROUND_CEILING) * TICK
    sim.set_price(TRADED, last if last > stop else last + TICK)
    await eventually(lambda: d.position_size(TRADED) == 0, what=f"{TRADED} exited")


async def _fetch_events(d: Daemon, kind: str) -> list[Any]:
    from sqlalchemy import text

    async with d.sessions() as session:
        rows = await session.execute(text("SELECT * FROM trailing_stop_events WHERE symbol = :s AND kind = :k "
                                          "ORDER BY id"), {"s": SYMBOL, "k": kind})
        return [r._mapping for r in rows]


async def _has_other_stop(d: Daemon, old: str) -> bool:
    row = await _trailing_row(d)
    return row is not None and row.stop_order_id is not None and row.stop_order_id != old


def _config(settings: Settings, sim: RunningSimulator) -> CoinbaseConfig:
    key = sim.create_api_key()
    return CoinbaseConfig.from_settings(settings, rest_host=sim.rest_host, ws_market_url=sim.ws_market_url,
                                        ws_user_url=sim.ws_user_url, ca_file=sim.ca_file, api_key=key.name,
                                        api_secret=key.private_pem)
