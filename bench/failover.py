"""Failover time of the webhook leader: `python bench/failover.py [--kills 10] [--cold 3]`. Prints JSON.

Two webhook processes (leader + standby) trade on the simulator with an open position and an
active trailing stop. The leader is SIGKILLed `--kills` times; each time the figure is the time
from the kill to the new leader's first sentinel sweep (its `leader_first_sweep` log line), and a
fresh standby is started for the next round. Reference, same run: the same kill with no standby —
the time until a restarted single process makes its first sweep (`--cold` times).
Uses DATABASE_URL's server (or an embedded one) and a scratch database it drops afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.logging import configure_logging  # noqa: E402
from core.settings import load_settings  # noqa: E402
from shared_data import migrate  # noqa: E402
from shared_data.db import create_database, drop_database  # noqa: E402
from shared_data.embedded import EmbeddedPostgres  # noqa: E402
from tests.e2e.ha_support import kill_and_time_takeover, post, query  # noqa: E402
from tests.e2e.harness import buy_alert, eventually, start_test_simulator  # noqa: E402
from tests.e2e.process_harness import DaemonProcess, daemon_env  # noqa: E402

SYMBOL = "BTC-USD"
GOAL_S = 5.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50_s": round(statistics.median(values), 3), "max_s": round(max(values), 3),
            "min_s": round(min(values), 3), "all_s": [round(v, 3) for v in values]}


async def run(db_url: str, work: Path, kills: int, cold: int) -> dict[str, Any]:
    sim = await start_test_simulator(work / "sim", [SYMBOL])
    started: list[DaemonProcess] = []
    try:
        env = daemon_env(db_url, sim, sim.create_api_key(), LOG_LEVEL="INFO")
        leader = DaemonProcess(env)
        started.append(leader)
        await leader.start()
        sim.set_price(SYMBOL, Decimal("100"))
        assert await post(leader.alert_url, buy_alert(SYMBOL)) == 200
        await eventually(lambda: query(db_url, "SELECT 1 FROM fills WHERE symbol=$1", SYMBOL), timeout=60,
                         what="entry filled")
        sim.set_price(SYMBOL, Decimal("104.5"))  # +4.5 %: the trailing stop activates
        await eventually(lambda: query(db_url, "SELECT 1 FROM trailing_stop_state WHERE state='active'"),
                         timeout=60, what="trailing stop active")
        takeovers: list[float] = []
        since_lock: list[float] = []
        for i in range(kills):
            standby = DaemonProcess(env)
            started.append(standby)
            await standby.start()
            assert standby.find("webhook_ready")[-1]["role"] == "standby", standby.tail()
            await asyncio.sleep(1.5)  # the standby's feeds are warm, as in a running pair
            seconds, event = await kill_and_time_takeover(leader, standby)
            takeovers.append(seconds)
            since_lock.append(float(event["since_lock_ms"]) / 1000)
            say(f"[failover] kill {i + 1}/{kills}: {seconds:.3f} s to the first sweep "
                f"(takeover work {event['since_lock_ms']} ms, positions {event['positions']}, "
                f"trailing {event['trailing_stops']})")
            leader = standby
            sim.set_price(SYMBOL, Decimal("104.5") + Decimal(i + 1) / 10)  # the stop keeps moving
        restarts: list[float] = []
        for i in range(cold):
            killed_at = time.time()
            await leader.kill()
            leader = DaemonProcess(env)
            started.append(leader)
            await leader.start()
            first = await leader.wait_event("sentinel_started", timeout=60)
            at = datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00")).timestamp()
            restarts.append(at - killed_at)
            say(f"[failover] reference {i + 1}/{cold}: restart without a standby {restarts[-1]:.3f} s")
        await leader.terminate()
        return {
            "bench": "failover", "kills": kills, "goal_s": GOAL_S,
            "takeover": summary(takeovers),
            "takeover_work_after_lock": summary(since_lock),
            "reference_cold_restart": summary(restarts),
            "meets_goal": bool(takeovers) and max(takeovers) <= GOAL_S,
        }
    finally:
        for d in started:
            if d.proc is not None and d.proc.returncode is None:
                await d.kill()
        await sim.stop()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--cold", type=int, default=3, help="restarts without a standby (the reference)")
    args = parser.parse_args()
    configure_logging("WARNING", "json")  # stdout carries the JSON result only
    settings = load_settings()
    embedded = None
    if settings.database_url is None:
        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="bt-failover-pg-")))
        server = embedded.start()
    else:
        server = settings.database_url.get_secret_value()
    name = f"bt_failover_{uuid.uuid4().hex[:8]}"
    url = await create_database(server, name)
    try:
        await migrate.upgrade(url)
        with tempfile.TemporaryDirectory(prefix="bt-failover-") as work:
            result = await run(url, Path(work), args.kills, args.cold)
        print(json.dumps(result, indent=2))
        return 0
    finally:
        await drop_database(server, name)
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
