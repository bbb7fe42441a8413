"""The README's run topology as a test subject: `main.py both` with its in-process, durable simulator.

The simulator lives inside the daemon process here (unlike process_harness, where the test owns it),
so a SIGKILL takes the exchange down with the daemon — exactly what happens to a user of `./run.sh`.
The test reaches the simulator the way an operator would: its loopback admin API (to register a
key of its own and inject faults) and the Coinbase REST API through the real SDK.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from core.settings import TradingMode
from exchange.coinbase.config import CoinbaseConfig
from exchange.coinbase.rest import CoinbaseRestAdapter
from exchange.paging import all_fills
from shared_data.db import to_plain_url
from simulator.keys import generate_key_pair
from tests.e2e.harness import SECRET, eventually
from tests.e2e.process_harness import DaemonProcess

ROOT = Path(__file__).resolve().parents[2]
PRODUCTS = ("BTC-USD", "ETH-USD")


def paper_env(db_url: str, state_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SIM_", "WEBHOOK_", "COINBASE_", "REST_", "WS_", "NOTIFY_"))}
    env.update({
        "DATABASE_URL": db_url, "TRADING_MODE": "paper", "SIM_STATE_DIR": str(state_dir),
        "SIM_REST_PORT": "0", "SIM_WS_PORT": "0", "SIM_PRODUCTS": ",".join(PRODUCTS), "WEBHOOK_PORT": "0",
        "WEBHOOK_SECRETS": SECRET, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "QUOTE_MAX_AGE_S": "60",
        "ALERT_RATE_LIMIT_PER_MIN": "1000", "MAX_POSITION_PCT": "100", "MAX_ORDER_NOTIONAL_USD": "100000",
        "BUY_SCORE_THRESHOLD": "1000", "SELL_SCORE_THRESHOLD": "-1000",  # only the test trades
        "RECONCILE_INTERVAL_S": "5", "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


@dataclass
class PaperExchange:
    """The in-process simulator of a running `both`, reached from outside."""

    rest_host: str
    ca_file: str
    ws_market_url: str
    ws_user_url: str
    adapter: CoinbaseRestAdapter

    @classmethod
    async def of(cls, daemon: DaemonProcess) -> PaperExchange:
        started = daemon.find("simulator_started")[-1]
        rest_host, ca_file = started["rest_host"], started["ca_file"]
        key = generate_key_pair()
        async with _http(ca_file) as http, http.post(f"https://{rest_host}/admin/keys",
                                                      json={"name": key.name, "public_pem": key.public_pem}) as r:
            assert r.status == 200, await r.text()
        adapter = CoinbaseRestAdapter(CoinbaseConfig(
            TradingMode.PAPER, rest_host, started["ws_market_url"], started["ws_user_url"], Path(ca_file),
            key.name, key.private_pem))
        return cls(rest_host, ca_file, started["ws_market_url"], started["ws_user_url"], adapter)

    async def admin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with _http(self.ca_file) as http, http.post(f"https://{self.rest_host}/admin/{path}", json=body) as r:
            assert r.status == 200, await r.text()
            return dict(await r.json())

    async def trade_ids(self) -> set[str]:
        return {f.trade_id for f in await all_fills(self.adapter) if f.trade_type == "FILL"}

    async def base_balances(self) -> dict[str, Decimal]:
        balances = await self.adapter.get_balances()
        out = {}
        for product in PRODUCTS:
            base = product.split("-")[0]
            b = balances.get(base)
            out[product] = (b.available + b.hold) if b is not None else Decimal(0)
        return out


def _http(ca_file: str) -> aiohttp.ClientSession:
    context = ssl.create_default_context(cafile=ca_file)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context), trust_env=False,
                                 timeout=aiohttp.ClientTimeout(total=20))


async def interrupt(daemon: DaemonProcess, timeout: float = 60.0) -> int:
    """SIGINT (Ctrl-C) and wait for the exit."""
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGINT)
    return await daemon._finish(timeout)


async def post_alert(url: str, body: dict[str, Any]) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=json.dumps(body)) as resp:
        return resp.status


async def fetch(db_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(to_plain_url(db_url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def db_trade_ids(db_url: str) -> list[str]:
    return [r["trade_id"] for r in await fetch(db_url, "SELECT trade_id FROM fills")]


async def db_positions(db_url: str) -> dict[str, Decimal]:
    rows = await fetch(db_url, """SELECT symbol, SUM(CASE side WHEN 'BUY' THEN size ELSE -size END) AS net
                                  FROM fills GROUP BY symbol""")
    out = dict.fromkeys(PRODUCTS, Decimal(0))
    out.update({r["symbol"]: r["net"] for r in rows})
    return out


async def disagreement(exchange: PaperExchange, db_url: str) -> str | None:
    """None when the database's fills (each once) and positions agree with the exchange's; else what differs."""
    ours = await db_trade_ids(db_url)
    theirs = await exchange.trade_ids()
    if Counter(ours) != Counter(theirs):
        return f"fills differ: missing {set(theirs) - set(ours)}, extra {set(ours) - set(theirs)}"
    positions, balances = await db_positions(db_url), await exchange.base_balances()
    if positions != balances:
        return f"positions {positions} != balances {balances}"
    return None


async def wait_for_agreement(exchange: PaperExchange, db_url: str, daemon: DaemonProcess,
                             timeout: float = 90.0) -> None:
    """The database comes to agree with the exchange. Not compared at one instant: the daemon keeps trading
    (its sentinel may exit a position), and a fill is on the exchange a moment before it is recorded."""
    async def agree() -> bool:
        return await disagreement(exchange, db_url) is None

    try:
        await eventually(agree, timeout=timeout, interval=0.5, what="database agrees with the simulator")
    except AssertionError:
        raise AssertionError(f"{await disagreement(exchange, db_url)}\n{daemon.tail()}") from None


def run_cli(env: dict[str, str], *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], env=env, cwd=str(ROOT),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


async def run_refused(env: dict[str, str], timeout: float = 120.0) -> tuple[int, str]:
    """Start `both` expecting it to refuse; returns (exit code, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), "both", env=env, cwd=str(ROOT),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, err.decode(errors="replace")


def error_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if '"level": "error"' in line or '"level": "critical"' in line]
