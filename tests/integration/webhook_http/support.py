"""Test doubles we own (small real classes, no mocks) and a harness serving the real app on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ManualClock
from core.enums import AlertStatus
from core.settings import Settings, load_settings
from webhook.alerts import repository
from webhook.alerts.symbols import SymbolMap
from webhook.alerts.worker import AlertOutcome, AlertWorker, StoredAlert
from webhook.http.app import build_app
from webhook.http.deps import HealthReport, HttpDeps, TrailingStopHealth
from webhook.http.server import RunningServer, start_server

SECRET = secrets.token_urlsafe(32)
SECRET_OLD = secrets.token_urlsafe(32)  # a second active secret (rotation)
ADMIN_TOKEN = secrets.token_urlsafe(32)
PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD", "BTC-USDC", "ETH-BTC"]
START = datetime(2026, 11, 21, 15, 0, 0, tzinfo=UTC)


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RecordingExecutor:
    """An AlertExecutor that records each call; `fail_ids` makes chosen calls raise."""

    def __init__(self, fail_first: int = 0, delay_s: float = 0.0) -> None:
        self.calls: list[StoredAlert] = []
        self._fail_first = fail_first
        self._delay_s = delay_s
        self.called = asyncio.Event()

    async def execute(self, alert: StoredAlert) -> AlertOutcome:
        self.calls.append(alert)
        self.called.set()
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
        if len(self.calls) <= self._fail_first:
            raise RuntimeError("exchange unreachable")
        return AlertOutcome(AlertStatus.ORDERED, None, f"bt-{alert.id}", f"order-{alert.id}")


@dataclass
class StaticHealth:
    database_ok: bool = True
    websocket_connected: bool = True
    websocket_age_s: float | None = 1.0
    matrix_age_s: float | None = 30.0
    breakers: dict[str, bool] = field(default_factory=lambda: {"daily_loss": False, "consecutive_losses": False})
    trailing: TrailingStopHealth = field(default_factory=lambda: TrailingStopHealth(2, 5, 0))

    async def health(self) -> HealthReport:
        return HealthReport(self.database_ok, self.websocket_connected, self.websocket_age_s, self.matrix_age_s,
                            dict(self.breakers))

    async def trailing_stop(self) -> TrailingStopHealth:
        return self.trailing


@dataclass
class RecordingAdmin:
    halted: bool = False
    reasons: list[str] = field(default_factory=list)

    async def halt(self, reason: str) -> Mapping[str, Any]:
        self.halted = True
        self.reasons.append(reason)
        return {"halted": True, "reason": reason}

    async def resume(self) -> Mapping[str, Any]:
        self.halted = False
        return {"halted": False}

    async def state(self) -> Mapping[str, Any]:
        return {"halted": self.halted}


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "webhook_secrets": f"{SECRET},{SECRET_OLD}",
        "admin_token": ADMIN_TOKEN,
        "alert_rate_limit_per_min": 1000,
        "alert_max_body_bytes": 4096,
        "notify_urls": "",
    }
    values.update(overrides)
    return load_settings(**values)


def alert_body(clock: ManualClock, *, secret: str | None = SECRET, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ticker": "BTCUSD", "exchange": "COINBASE", "action": "buy", "quantity": "0.001",
                            "price": "50000", "time": rfc3339(clock.now())}
    if secret is not None:
        body["secret"] = secret
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


@dataclass
class Harness:
    settings: Settings
    clock: ManualClock
    sessions: async_sessionmaker[AsyncSession]
    executor: RecordingExecutor
    worker: AlertWorker
    health: StaticHealth
    admin: RecordingAdmin
    server: RunningServer
    http: aiohttp.ClientSession
    deps: HttpDeps

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def post(self, path: str, body: bytes | str | dict[str, Any], content_type: str = "application/json",
                   headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        data = data.encode() if isinstance(data, str) else data
        hdrs = {"Content-Type": content_type, **(headers or {})}
        async with self.http.post(self.base + path, data=data, headers=hdrs) as resp:
            return resp.status, await resp.json(content_type=None)

    async def rows(self) -> list[Any]:
        async with self.sessions() as session:
            return await repository.rows_with_status(session, list(AlertStatus))

    async def drain(self) -> int:
        """Run the worker until the inbox is empty; the number of alerts handled."""
        handled = 0
        while await self.worker.process_one():
            handled += 1
        return handled


async def clear_alerts(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await session.execute(text("TRUNCATE alerts"))


async def start_harness(sessions: async_sessionmaker[AsyncSession], *, executor: RecordingExecutor | None = None,
                        worker_poll_s: float = 0.05, **overrides: Any) -> Harness:
    settings = make_settings(**overrides)
    clock = ManualClock(START)
    executor = executor or RecordingExecutor()
    worker = AlertWorker(sessions, executor, clock, poll_interval_s=worker_poll_s)
    health, admin = StaticHealth(), RecordingAdmin()
    deps = HttpDeps(settings=settings, sessions=sessions, health=health, admin=admin,
                    symbols=SymbolMap.from_products(PRODUCTS), clock=clock, wake=worker.wake)
    server = await start_server(build_app(deps), "127.0.0.1", 0)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    return Harness(settings, clock, sessions, executor, worker, health, admin, server, http, deps)


async def stop_harness(h: Harness) -> None:
    await h.http.close()
    await h.server.stop()


async def wait_until(predicate: Any, timeout_s: float = 10.0) -> None:
    """Poll a condition with a generous bound (a guard against hangs, not a timing assertion)."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - the condition lives in another task's state, not an Event
            await asyncio.sleep(0.01)


def later(clock: ManualClock, seconds: float) -> datetime:
    return clock.now() + timedelta(seconds=seconds)
