"""The daemon as a real OS process (`main.py webhook|both`) against a simulator owned by the test.

The simulator lives in the test process, so it survives the daemon being SIGKILLed: that is how the
restart and crash tests compare the daemon's records with the exchange's own ledger.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from simulator.app import RunningSimulator
from simulator.keys import TestKey
from tests.e2e.harness import SECRET

ROOT = Path(__file__).resolve().parents[2]


def daemon_env(db_url: str, sim: RunningSimulator, key: TestKey, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIM_", "WEBHOOK_", "COINBASE_"))}
    env.update({
        "DATABASE_URL": db_url, "TRADING_MODE": "paper", "REST_BASE_URL": sim.rest_host,
        "WS_MARKET_URL": sim.ws_market_url, "WS_USER_URL": sim.ws_user_url, "EXCHANGE_CA_FILE": str(sim.ca_file),
        "COINBASE_API_KEY": key.name, "COINBASE_API_SECRET": key.private_pem, "WEBHOOK_PORT": "0",
        "WEBHOOK_SECRETS": SECRET, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "SENTINEL_SWEEP_INTERVAL_S": "0.5",
        "QUOTE_MAX_AGE_S": "60", "ALERT_RATE_LIMIT_PER_MIN": "1000", "MAX_POSITION_PCT": "100",
        "MAX_ORDER_NOTIONAL_USD": "100000", "PYTHONPATH": str(ROOT),
        # The taker path, as in harness.e2e_settings (maker-first has its own tests, issue #19).
        "ENTRY_ORDER_TYPE": "market", "EXIT_ORDER_STYLE": "marketable", "EXIT_PNL_BASIS": "price",
    })
    env.update(extra)
    return env


class DaemonProcess:
    def __init__(self, env: dict[str, str], mode: str = "webhook") -> None:
        self.env = env
        self.mode = mode
        self.proc: asyncio.subprocess.Process | None = None
        self.events: list[dict[str, Any]] = []
        self.lines: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self._new = asyncio.Event()

    async def start(self, *, ready_timeout: float = 90.0) -> DaemonProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "main.py"), self.mode, env=self.env, cwd=str(ROOT),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, limit=2**22)
        self._reader = asyncio.create_task(self._read())
        await self.wait_event("webhook_ready", timeout=ready_timeout)
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            text = line.decode(errors="replace")
            self.lines.append(text)
            try:
                self.events.append(json.loads(text))
            except ValueError:
                pass
            self._new.set()

    def find(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event
                and all(e.get(k) == v for k, v in fields.items())]

    async def wait_event(self, event: str, *, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = self.find(event, **fields)
            if found:
                return found[-1]
            if self.proc is not None and self.proc.returncode is not None:
                raise AssertionError(f"daemon exited ({self.proc.returncode}) before {event}:\n{self.tail()}")
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"{event} not seen in {timeout}s:\n{self.tail()}")
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), timeout=min(remaining, 0.5))
            except TimeoutError:
                pass

    @property
    def alert_url(self) -> str:
        return str(self.find("webhook_ready")[-1]["alert_url"])

    def tail(self, n: int = 40) -> str:
        return "".join(self.lines[-n:])

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs (the crash case)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self._finish()

    async def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await self._finish(timeout)

    async def _finish(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        rc = await asyncio.wait_for(self.proc.wait(), timeout=timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout=5)
        return rc


def secret_leaks(lines: Iterable[str], secrets: Iterable[str]) -> list[str]:
    return [s for s in secrets if any(s in line for line in lines)]


@pytest.fixture
async def daemons() -> AsyncIterator[list[DaemonProcess]]:
    """The daemon processes a test starts; any still running afterwards is killed."""
    started: list[DaemonProcess] = []
    yield started
    for d in started:  # never leave a daemon running after a failed test
        if d.proc is not None and d.proc.returncode is None:
            d.proc.send_signal(signal.SIGCONT)  # a frozen (SIGSTOPped) process must run again to be killed
            await d.kill()
