"""Scripted round trips: the bracket's take-profit fills once, its stop once; each exit recorded with
its reason, FIFO allocation and fees, and shown by exits_by_reason."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import select, text

from reports.performance import ExitThresholds, build_performance_report
from reports.queries import load_trade_outcomes
from shared_data.models import FifoAllocation, TradeRecord
from shared_data.models import Fill as FillRow
from tests.integration.passive.conftest import PRODUCT, Core, Passive, make_passive

MAKER, TAKER = D("0.006"), D("0.012")


@pytest.fixture(scope="module")
async def p(core: Core) -> Passive:
    # No new bid for 30 s after a fill: each round trip below has exactly one entry.
    return await make_passive(core, passive_filled_delay_s=30)


async def _fills(p: Passive, order_id: str) -> list[FillRow]:
    async with p.core.sessions() as session:
        return list((await session.execute(select(FillRow).where(FillRow.order_id == order_id))).scalars())


async def _allocations(p: Passive, sell_order_id: str) -> list[FifoAllocation]:
    async with p.core.sessions() as session:
        return list((await session.execute(select(FifoAllocation).where(
            FifoAllocation.sell_order_id == sell_order_id))).scalars())


async def _sell_row(p: Passive, order_id: str) -> TradeRecord:
    async with p.core.sessions() as session:
        row = (await session.execute(select(TradeRecord).where(TradeRecord.order_id == order_id))).scalar_one()
    return row


async def test_bracket_take_profit_fills_and_is_recorded_with_reason_fifo_and_fees(p: Passive) -> None:
    state = p.manager.state(PRODUCT)
    p.sim.set_price(PRODUCT, D("101"))
    await p.step()
    assert state.bid is not None
    buy_id = state.bid.order_id
    p.sim.set_price(PRODUCT, D("100.3"))
    await p.step()
    [bracket] = state.brackets
    sell_id, size = bracket.order_id or "", bracket.size
    assert state.bid is None  # filled_delay: no new bid yet
    p.sim.set_price(PRODUCT, D("102"))  # through the 101.85 take-profit
    await p.step()
    assert state.brackets == [] and p.position() == 0
    row = await _sell_row(p, sell_id)
    assert row.exit_reason == "bracket_take_profit" and row.status == "FILLED"
    assert row.exit_target_price == D("101.85")
    [sell_fill] = await _fills(p, sell_id)
    assert sell_fill.price == D("101.85") and sell_fill.liquidity_indicator == "MAKER"
    assert sell_fill.commission == D("101.85") * size * MAKER
    buy_fills = await _fills(p, buy_id)
    assert sum(f.commission for f in buy_fills) == D("100.34") * size * MAKER
    [alloc] = await _allocations(p, sell_id)
    assert alloc.buy_order_id == buy_id and alloc.allocated_size == size
    assert (alloc.buy_price, alloc.sell_price) == (D("100.34"), D("101.85"))
    # P&L = proceeds − sell fee − (cost + buy fee), exactly as FIFO computed it.
    expected = size * D("101.85") * (1 - MAKER) - size * D("100.34") * (1 + MAKER)
    assert abs(alloc.pnl_usd - expected) < D("0.00000001") and alloc.pnl_usd > 0


async def test_bracket_stop_fills_and_is_recorded_with_reason_fifo_and_fees(p: Passive) -> None:
    state = p.manager.state(PRODUCT)
    await p.step(31)  # the filled delay is over: a bid at the 102 mid
    assert state.bid is not None and state.bid.price == D("101.33")
    buy_id = state.bid.order_id
    p.sim.set_price(PRODUCT, D("101.3"))
    await p.step()
    [bracket] = state.brackets
    assert (bracket.prices.take_profit, bracket.prices.stop_trigger) == (D("102.85"), D("99.30"))
    sell_id, size = bracket.order_id or "", bracket.size
    p.sim.set_price(PRODUCT, D("99"))  # under the 99.30 trigger: the stop-limit sells into the bid
    await p.step()
    assert state.brackets == [] and p.position() == 0
    row = await _sell_row(p, sell_id)
    assert row.exit_reason == "bracket_stop" and row.status == "FILLED" and row.exit_target_price == D("99.30")
    fills = await _fills(p, sell_id)
    assert sum(f.size for f in fills) == size and {f.liquidity_indicator for f in fills} == {"TAKER"}
    assert sum(f.commission for f in fills) == sum(f.price * f.size for f in fills) * TAKER
    [alloc] = await _allocations(p, sell_id)
    assert alloc.buy_order_id == buy_id and alloc.allocated_size == size and alloc.pnl_usd < 0
    assert alloc.buy_price == D("101.33")


async def test_exits_by_reason_and_the_performance_report_show_both_bracket_legs(p: Passive) -> None:
    async with p.core.sessions() as session:
        rows = {r.exit_reason: r for r in (await session.execute(text(
            "SELECT exit_reason, trades, wins, losses, total_pnl_usd, fees_paid_usd FROM exits_by_reason"))).all()}
    assert set(rows) == {"bracket_take_profit", "bracket_stop"}
    tp, stop = rows["bracket_take_profit"], rows["bracket_stop"]
    assert (tp.trades, tp.wins, tp.losses) == (1, 1, 0) and tp.total_pnl_usd > 0 and tp.fees_paid_usd > 0
    assert (stop.trades, stop.wins, stop.losses) == (1, 0, 1) and stop.total_pnl_usd < 0
    async with p.core.sessions() as session:
        outcomes = await load_trade_outcomes(session)
    report = build_performance_report(outcomes, ExitThresholds.from_settings(p.core.settings))
    by_label = {g.label: g for g in report.by_reason}
    assert set(by_label) == {"bracket_take_profit", "bracket_stop"}
    assert by_label["bracket_take_profit"].trades == 1 and by_label["bracket_stop"].trades == 1


async def test_a_gap_under_the_stop_limit_hands_the_position_to_the_sentinel(p: Passive) -> None:
    state = p.manager.state(PRODUCT)
    p.sim.set_price(PRODUCT, D("101"))
    await p.step(31)
    assert state.bid is not None
    p.sim.set_price(PRODUCT, D("100.3"))
    await p.step()
    [bracket] = state.brackets
    bracket_id = bracket.order_id or ""
    # A gap: the stop (98.33) triggers, its stop-limit (limit 93.41) rests over a 90 bid and cannot fill.
    p.sim.set_price(PRODUCT, D("90"))
    await p.step()
    assert state.handed_over and state.brackets == [] and not p.manager.owns(PRODUCT)
    assert (await p.core.adapter.get_order(bracket_id)).status.value == "CANCELLED"
    assert p.position() == bracket.size  # still held: the sentinel's hard stop sells it at market
    [(topic, message)] = p.notes
    assert topic == "passive_bracket_handover" and "gapped under the stop-limit" in message
