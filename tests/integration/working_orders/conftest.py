"""Working orders on the real simulator (real SDK under the adapter) and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ManualClock, utcnow
from core.settings import load_settings
from simulator.app import RunningSimulator, start_simulator
from tests.integration.webhook.conftest import PRODUCT, Core, build_core, sim_config
from webhook.order_intent import client_order_id
from webhook.order_manager import OrderManager
from webhook.reconciler import Reconciler
from webhook.working_orders.desk import WorkingOrderDesk

__all__ = ["PRODUCT", "Desk", "Rig"]


@dataclass
class _DeskRig:
    """A desk on a manual clock over the real simulator, with readers of its rows."""

    core: Core
    desk: WorkingOrderDesk
    clock: ManualClock

    @property
    def sim(self) -> RunningSimulator:
        return self.core.sim

    async def step(self, seconds: float = 1.0) -> int:
        """Let `seconds` pass on the daemon's clock, then look at every working order once."""
        self.clock.advance(seconds)
        return await self.desk.step_all()

    async def row(self, wo_id: str) -> dict[str, Any]:
        async with self.core.sessions() as session:
            found = (await session.execute(text("SELECT * FROM working_orders WHERE id = :id"), {"id": wo_id})).first()
        assert found is not None
        return dict(found._mapping)

    async def children(self, wo_id: str) -> list[Any]:
        """The working order's exchange orders (trade_records rows), oldest first."""
        async with self.core.sessions() as session:
            rows = await session.execute(text(
                "SELECT * FROM trade_records WHERE working_order_id = :wo ORDER BY order_time, client_order_id"),
                {"wo": wo_id})
            return [SimpleNamespace(**dict(r._mapping)) for r in rows]


@dataclass
class Desk(_DeskRig):
    exits_done: list[tuple[str, bool]]

    def position(self) -> Decimal:
        return self.core.ledger.position(PRODUCT).size


def desk_settings(**overrides: Any) -> Any:
    base: dict[str, Any] = dict(fills_lag_retry_s=5.0, entry_order_ttl_s=60.0, entry_max_reprices=5,
                                book_cache_ttl_s=0.5, exit_escalate_s=30.0, placement_backoff_base_s=0.01,
                                placement_backoff_max_s=0.05)
    base.update(overrides)
    return load_settings(**base)


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(sim_config(Path(tmp_path_factory.mktemp("sim"))))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="module")
async def desk(sim: RunningSimulator, db_sessions: async_sessionmaker[AsyncSession]) -> Desk:
    core = await build_core(sim, sim.create_api_key(), db_sessions)
    settings = desk_settings()
    clock = ManualClock()
    done: list[tuple[str, bool]] = []
    wod = WorkingOrderDesk(core.adapter, core.orders, core.sessions, settings, clock, settle=core.fills.process_order,
                           on_exit_done=lambda symbol, filled: done.append((symbol, filled)))
    return Desk(core=core, desk=wod, clock=clock, exits_done=done)


@dataclass
class Rig(_DeskRig):
    """A desk whose order manager and reconciler share its clock (the daemon's wiring), for tests
    where the reconciler's `recover_unsent` and the desk both look at the same child rows."""

    orders: OrderManager
    reconciler: Reconciler

    def on_exchange(self, intent_key: str) -> list[Any]:
        """The exchange's orders of an intent (its children), whatever we recorded."""
        prefix = client_order_id(intent_key).rsplit("-", 1)[0] + "-"
        return [o for o in self.sim.engine.orders.values() if o.client_order_id.startswith(prefix)]


@pytest.fixture(scope="module")
async def rig(sim: RunningSimulator, db_sessions: async_sessionmaker[AsyncSession]) -> Rig:
    core = await build_core(sim, sim.create_api_key(), db_sessions)
    clock = ManualClock(utcnow())  # one clock for the desk, the order manager and the reconciler
    orders = OrderManager(core.adapter, core.sessions, core.settings, clock)
    reconciler = Reconciler(core.adapter, core.sessions, core.recorder, orders, clock)
    desk = WorkingOrderDesk(core.adapter, orders, core.sessions, desk_settings(), clock,
                            settle=core.fills.process_order)
    return Rig(core=core, desk=desk, clock=clock, orders=orders, reconciler=reconciler)


@pytest.fixture(autouse=True)
def _no_faults_left(sim: RunningSimulator) -> Iterator[None]:
    yield
    sim.faults.clear()
