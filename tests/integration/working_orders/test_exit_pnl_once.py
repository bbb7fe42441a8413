"""An exit escalated to market counts as ONE exit for the breakers, with the P&L of all its children,
even when the fill path sees the market child before the desk has the answer to its send."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

from core.enums import ExitReason, OrderSource, Side
from risk.manager import RiskManager
from simulator.app import RunningSimulator
from tests.integration.working_orders.conftest import PRODUCT, Rig
from webhook.order_intent import IntentKind, OrderIntent
from webhook.positions import PositionBook
from webhook.working_orders.desk import working_order_id


class SentinelNotes:
    """The sentinel's side of the exit watcher: which exits it was told about."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, bool, str | None]] = []

    def exit_finished(self, symbol: str, *, filled: bool, order_id: str | None = None) -> None:
        self.finished.append((symbol, filled, order_id))


async def _new_order(sim: RunningSimulator, known: set[str]) -> Any:
    for _ in range(1000):  # bounded by tries, not by wall-clock time
        fresh = [o for oid, o in sim.engine.orders.items() if oid not in known]
        if fresh:
            return fresh[0]
        await asyncio.sleep(0.01)
    raise AssertionError("the escalation's market order never reached the exchange")


async def test_an_escalated_exit_filled_before_its_answer_arrives_is_counted_once(rig: Rig) -> None:
    positions = PositionBook(rig.core.ledger, clock=rig.clock)
    risk = RiskManager(rig.core.sessions, rig.core.settings, clock=rig.clock)
    sentinel = SentinelNotes()
    rig.core.recorder.on_order_recorded(positions.exit_watcher(sentinel, risk, rig.core.sessions, owned=rig.desk.owns))
    exits_done: list[tuple[str, bool]] = []
    counter = positions.working_exit_counter(risk, rig.core.sessions)
    settled: list[tuple[str, D | None]] = []

    def count(wo_id: str, pnl: D | None) -> None:
        settled.append((wo_id, pnl))
        counter(wo_id, pnl)

    rig.desk.set_exit_listener(lambda symbol, filled: exits_done.append((symbol, filled)), count)
    rig.sim.set_price(PRODUCT, D("101"))
    bought = await rig.desk.start_entry(OrderIntent(PRODUCT, Side.BUY, IntentKind.POST_ONLY, OrderSource.SIGHOOK,
                                                    "pnl-once:buy", quote_size=D("100")))
    assert bought.ok
    rig.sim.set_price(PRODUCT, D("100.95"))
    await rig.step()
    held = rig.core.ledger.position(PRODUCT).size
    assert held > 0
    before = (await risk.state()).counters

    rig.sim.set_price(PRODUCT, D("98.4"))
    placed = await rig.desk.start_exit(symbol=PRODUCT, size=held, intent_key="pnl-once:exit",
                                       reason=ExitReason.SOFT_STOP, target_price=D("98.46"), quote_price=D("98.39"),
                                       hard_stop_price=D("95.94"), trigger={})
    assert placed.ok and placed.order_id
    # The bid falls through the hard stop: the desk escalates to market. The exchange takes and fills
    # the market sell at once but holds its answer back a second; the user channel reports the fill
    # meanwhile and the fill path records it (what the daemon's WebSocket does).
    rig.sim.set_price(PRODUCT, D("95"))
    rig.sim.faults.add("slow", count=1, path="/orders", method="POST", delay_s=1.0, process=True)
    known = set(rig.sim.engine.orders)
    stepping = asyncio.create_task(rig.step())
    market = await _new_order(rig.sim, known)
    await rig.core.fills.process_order(market.order_id)
    await stepping
    assert await rig.step() == 0
    await asyncio.gather(*list(positions._tasks))

    row = await rig.row(working_order_id("pnl-once:exit"))
    assert row["state"] == "filled" and row["escalated"]
    children = await rig.children(working_order_id("pnl-once:exit"))
    assert [c.order_type for c in children] == ["LIMIT", "MARKET"] and children[-1].order_id == market.order_id
    pnl = sum((c.pnl_usd or D(0)) for c in children)
    assert pnl < 0
    after = (await risk.state()).counters
    # One losing exit, its P&L counted once; the sentinel hears of it from the desk, not per child.
    assert after.realized_pnl_usd - before.realized_pnl_usd == pnl
    assert after.consecutive_losses == before.consecutive_losses + 1
    assert sentinel.finished == [] and exits_done == [(PRODUCT, True)]
    # The P&L counted is the one the desk's final save read with it (no read of its own after).
    assert settled == [(working_order_id("pnl-once:exit"), pnl)]
