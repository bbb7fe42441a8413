"""A simulator per test module (manual ticks, deterministic), and real SDK clients pointed at it.

The SDK is synchronous, and the simulator runs in the test's event loop, so every SDK call goes
through `asyncio.to_thread` (the `call` helper).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from coinbase.rest import RESTClient

from simulator.app import RunningSimulator, SimulatorConfig, start_simulator
from simulator.keys import TestKey

T = TypeVar("T")


def sim_config(tmp: Path, **overrides: Any) -> SimulatorConfig:
    base: dict[str, Any] = {"state_dir": tmp, "auto_tick": False, "history_minutes": 400, "seed": 7}
    base.update(overrides)
    return SimulatorConfig(**base)


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(sim_config(tmp_path_factory.mktemp("sim")))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="module")
def key(sim: RunningSimulator) -> TestKey:
    return sim.create_api_key()


def rest_client(sim: RunningSimulator, key: TestKey, timeout: float = 10) -> RESTClient:
    client = RESTClient(api_key=key.name, api_secret=key.private_pem, base_url=sim.rest_host, timeout=timeout,
                        rate_limit_headers=True)
    client.session.trust_env = False
    client.session.verify = str(sim.ca_file)
    return client


@pytest.fixture(scope="module")
def client(sim: RunningSimulator, key: TestKey) -> RESTClient:
    return rest_client(sim, key)


async def call[T](fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)


class Inbox:
    """Thread-safe collector of WebSocket frames (the SDK calls on_message from its own thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frames: list[str] = []

    def __call__(self, frame: str) -> None:
        with self._lock:
            self.frames.append(frame)

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(f) for f in self.frames]

    def channel(self, name: str) -> list[dict[str, Any]]:
        return [m for m in self.messages() if m.get("channel") == name]

    async def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.messages()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; got {len(self.frames)} frames: {self.frames[-5:]}")
            await asyncio.sleep(0.02)
