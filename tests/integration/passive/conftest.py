"""The passive manager on the real simulator (real SDK under the adapter, real sockets) and a real
PostgreSQL; the daemon's clock is a ManualClock the test moves, the market moves by `set_price`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ManualClock
from core.settings import load_settings
from risk.manager import RiskManager
from simulator.app import RunningSimulator, start_simulator
from tests.integration.webhook.conftest import PRODUCT, Core, build_core, sim_config
from webhook.notifications import Notifier
from webhook.passive.manager import PassiveManager

__all__ = ["PRODUCT", "Passive", "make_passive"]


@dataclass
class Passive:
    core: Core
    manager: PassiveManager
    clock: ManualClock
    risk: RiskManager
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def sim(self) -> RunningSimulator:
        return self.core.sim

    async def step(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)
        await self.manager.step()

    def position(self) -> Decimal:
        return self.core.ledger.position(PRODUCT).size

    async def open_orders(self, side: str | None = None) -> list[Any]:
        page = await self.core.adapter.list_orders(product_id=PRODUCT, statuses=["OPEN"])
        return [o for o in page.items if side is None or o.side.value == side]

    async def rows(self, where: str, **params: Any) -> list[Any]:
        async with self.core.sessions() as session:
            found = await session.execute(text(f"SELECT * FROM trade_records WHERE {where} ORDER BY order_time"),
                                          params)
            return [SimpleNamespace(**dict(r._mapping)) for r in found]


def passive_settings(**overrides: Any) -> Any:
    base: dict[str, Any] = dict(
        fills_lag_retry_s=5.0, passive_products=PRODUCT, passive_order_usd="100", passive_min_edge_pct="0.1",
        passive_atr_spread_mult="0", passive_refresh_s=30.0, passive_refresh_move_pct="0.2",
        passive_filled_delay_s=0, passive_max_inventory_usd="5000", passive_max_total_usd="10000",
        passive_take_profit_pct="1.5", passive_stop_pct="2", max_rearm_attempts=5, passive_max_orders_per_min=6,
        placement_backoff_base_s=0.01, placement_backoff_max_s=0.05)
    base.update(overrides)
    return load_settings(**base)


async def make_passive(core: Core, **overrides: Any) -> Passive:
    settings = passive_settings(**overrides)
    clock = ManualClock()
    risk = RiskManager(core.sessions, settings, clock=clock)
    notifier = Notifier([], 0.0, clock)
    holder: dict[str, Passive] = {}

    async def notify(topic: str, message: str) -> object:
        holder["p"].notes.append((topic, message))
        return await notifier.notify(topic, message)

    async def tripped() -> bool:
        return (await risk.state()).entries_blocked

    manager = PassiveManager(core.adapter, core.orders, core.sessions, settings, clock, settle=core.fills.process_order,
                             notify=notify, breaker_tripped=tripped,
                             position_size=lambda symbol: core.ledger.position(symbol).size)
    holder["p"] = Passive(core, manager, clock, risk)
    return holder["p"]


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    # Resting orders fill in full when the price trades through them.
    running = await start_simulator(sim_config(Path(tmp_path_factory.mktemp("sim")),
                                               maker_fill_notional_per_tick=Decimal("100000"),
                                               initial_balances={"USD": Decimal("100000")}))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="module")
async def core(sim: RunningSimulator, db_sessions: async_sessionmaker[AsyncSession]) -> Core:
    return await build_core(sim, sim.create_api_key(), db_sessions)
