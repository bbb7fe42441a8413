"""Crash-restart soak: trade on a volatile simulator while SIGKILLing the daemon at random moments.

The simulator runs in this process (it is the exchange: it must outlive the daemon). Each cycle
starts `main.py both`, sends a few TradingView alerts, lets prices move so the sentinel exits,
and kills the daemon at a random moment, often mid-order or mid-fill. After the last kill a final
daemon settles everything, and the run compares the database with the exchange's own ledger.

Used by the short soak in the test suite and by `bench/chaos_soak.py` for long runs.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from core.settings import load_settings
from fifo_engine.validator import check as fifo_check
from shared_data.db import create_engine, session_factory, to_plain_url
from simulator.app import RunningSimulator
from tests.e2e.harness import SECRET, start_test_simulator
from tests.e2e.process_harness import DaemonProcess, daemon_env

PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD", "LTC-USD"]
INITIAL_USD = Decimal("100000")
# Tight thresholds so exits (and kills during exits) happen often.
SOAK_ENV = {
    "STOP_LOSS_HARD_PCT": "-2", "STOP_LOSS_SOFT_PCT": "-1", "TAKE_PROFIT_PCT": "1.5",
    "TRAILING_ACTIVATION_PCT": "0.8", "TRAILING_MIN_DISTANCE_PCT": "0.3", "TRAILING_MAX_DISTANCE_PCT": "0.6",
    "SIGHOOK_INTERVAL_S": "3600", "RECONCILE_INTERVAL_S": "600", "FILLS_LAG_RETRY_S": "5",
    "DAILY_LOSS_LIMIT_USD": "1000000", "MAX_CONSECUTIVE_LOSSES": "1000000",
}


@dataclass
class SoakResult:
    kills: int = 0
    alerts_sent: int = 0
    exchange_fills: int = 0
    recorded_fills: int = 0
    exits: int = 0
    trailing_checks: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


async def _db(db_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(to_plain_url(db_url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def _post(url: str, body: dict[str, Any]) -> int:
    try:
        async with aiohttp.ClientSession() as http, http.post(
            url, data=json.dumps(body), timeout=aiohttp.ClientTimeout(total=5)
        ) as resp:
            return resp.status
    except (aiohttp.ClientError, TimeoutError):
        return 0  # killed while we talked to it: TradingView would see a timeout


def _alert(rng: random.Random, n: int, held: set[str]) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if held and rng.random() < 0.3:
        action, symbol = "close", rng.choice(sorted(held))
    else:
        action, symbol = "buy", rng.choice(PRODUCTS)
    body: dict[str, Any] = {"secret": SECRET, "id": f"soak-{n}", "ticker": symbol.replace("-", ""),
                            "action": action, "time": now}
    if action == "buy":
        body["notional"] = str(rng.randint(50, 300))
    return body


async def _open_sells(sim: RunningSimulator) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for o in sim.engine.orders.values():
        if o.side == "SELL" and o.status in ("PENDING", "OPEN", "CANCEL_QUEUED"):
            counts[o.product_id] += 1
    return counts


async def run_soak(db_url: str, workdir: Path, *, kills: int = 20, seed: int = 7, mode: str = "both",
                   say: Callable[[str], None] = lambda _m: None) -> SoakResult:
    rng = random.Random(seed)
    result = SoakResult()
    started = asyncio.get_running_loop().time()
    sim = await start_test_simulator(workdir / "sim", PRODUCTS, volatility=Decimal("0.003"), seed=seed,
                                     initial_balances={"USD": INITIAL_USD})
    key = sim.create_api_key()
    env = daemon_env(db_url, sim, key, **SOAK_ENV)
    moving = asyncio.Event()
    moving.set()

    async def move_prices() -> None:  # the volatile price process, paused while we compare states
        while True:
            await moving.wait()
            await sim.step()
            await asyncio.sleep(0.15)

    mover = asyncio.create_task(move_prices())
    daemon: DaemonProcess | None = None
    try:
        n = 0
        before = await _trailing_rows(db_url)
        while result.kills < kills:
            daemon = await DaemonProcess(env, mode).start()
            _check_restored(before, daemon, result)
            held = {r["symbol"] for r in await _db(db_url, "SELECT symbol FROM trailing_stop_state")}
            for _ in range(rng.randint(1, 3)):
                n += 1
                result.alerts_sent += 1
                await _post(daemon.alert_url, _alert(rng, n, held))
                if rng.random() < 0.3:
                    break  # kill right after an alert: mid-order
            await asyncio.sleep(rng.uniform(0.05, 2.5))
            await daemon.kill()
            result.kills += 1
            before = await _trailing_rows(db_url)
            for symbol, live in (await _open_sells(sim)).items():
                if live > 1:
                    result.problems.append(f"kill {result.kills}: {live} live exits for {symbol}")
            say(f"kill {result.kills}/{kills}: {len(sim.engine.fills)} exchange fills so far")

        moving.clear()  # freeze prices; a final daemon settles everything
        daemon = await DaemonProcess(env, "webhook").start()
        _check_restored(before, daemon, result)
        await _settle(db_url, sim, daemon)
        await _verify(db_url, sim, result)
        assert await daemon.terminate() == 0, daemon.tail()
    finally:
        mover.cancel()
        if daemon is not None and daemon.proc is not None and daemon.proc.returncode is None:
            await daemon.kill()
        await sim.stop()
    result.seconds = round(asyncio.get_running_loop().time() - started, 1)
    return result


async def _trailing_rows(db_url: str) -> dict[str, asyncpg.Record]:
    """The persisted trailing stops: with the daemon dead, these are exactly what a restart must restore."""
    return {r["symbol"]: r for r in await _db(db_url, "SELECT * FROM trailing_stop_state")}


def _check_restored(before: dict[str, asyncpg.Record], daemon: DaemonProcess, result: SoakResult) -> None:
    """Every stop the restarted daemon logged as restored equals its row as persisted before the restart.
    (Rows of positions that closed meanwhile are dropped at restore, so fewer may come back.)"""
    for event in daemon.find("trailing_stop_restored"):
        row = before.get(event["symbol"])
        if row is None:
            result.problems.append(f"trailing {event['symbol']}: restored without a persisted row")
            continue
        persisted = (row["state"], row["highest_price"], row["current_stop"], row["update_count"],
                     None if row["activated_at"] is None else row["activated_at"].isoformat())
        restored = (event["state"], Decimal(event["highest_price"]),
                    None if event["current_stop"] is None else Decimal(event["current_stop"]),
                    event["update_count"], event["activated_at"])
        if persisted != restored:
            result.problems.append(f"trailing {event['symbol']}: persisted {persisted} != restored {restored}")
        result.trailing_checks += 1


async def _settle(db_url: str, sim: RunningSimulator, daemon: DaemonProcess, timeout: float = 90.0) -> None:
    """Wait until every exchange fill is recorded and no order is left unsettled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    stable = 0
    while loop.time() < deadline:
        exchange = {f["trade_id"] for f in sim.all_fills()}
        recorded = {r["trade_id"] for r in await _db(db_url, "SELECT trade_id FROM fills")}
        unsettled = await _db(db_url, "SELECT order_id FROM trade_records WHERE status IN ('NEW','PENDING')")
        stable = stable + 1 if exchange == recorded and not unsettled else 0
        if stable >= 3:
            return
        await asyncio.sleep(1.0)
    raise AssertionError(f"not settled in {timeout}s:\n{daemon.tail()}")


async def _verify(db_url: str, sim: RunningSimulator, result: SoakResult) -> None:
    exchange = {f["trade_id"]: f for f in sim.all_fills()}
    rows = await _db(db_url, "SELECT trade_id, symbol, side, price, size, commission FROM fills")
    result.exchange_fills, result.recorded_fills = len(exchange), len(rows)
    if set(exchange) != {r["trade_id"] for r in rows}:
        result.problems.append("recorded fills differ from the exchange's ledger")
    result.exits = len(await _db(db_url, "SELECT 1 FROM trade_records WHERE exit_reason IS NOT NULL "
                                         "AND status = 'FILLED'"))
    # Balances: the exchange's totals equal what the recorded fills imply.
    expected: dict[str, Decimal] = defaultdict(Decimal)
    expected["USD"] = INITIAL_USD
    for r in rows:
        base = r["symbol"].split("-")[0]
        value = r["price"] * r["size"]
        if r["side"] == "BUY":
            expected[base] += r["size"]
            expected["USD"] -= value + r["commission"]
        else:
            expected[base] -= r["size"]
            expected["USD"] += value - r["commission"]
    for currency, (available, hold) in sim.balances().items():
        if available + hold != expected.get(currency, Decimal(0)):
            result.problems.append(f"balance {currency}: exchange {available + hold} != fills {expected[currency]}")
    for symbol, live in (await _open_sells(sim)).items():
        if live > 1:
            result.problems.append(f"end: {live} live exits for {symbol}")
    engine = create_engine(db_url, pool_size=2)
    try:
        issues = await fifo_check(session_factory(engine), load_settings())
    finally:
        await engine.dispose()
    result.problems += [f"fifo: {issue}" for issue in issues]
