"""Maker-first execution through the whole daemon on the simulator (issue #19).

- Five round trips in one product driven by sighook's entry alerter, one per entry type in turn:
  sighook enters again after every exit, and the open_positions view, the dashboard, the risk/
  sentinel position book and sighook's own entry check agree on what is held at every step.
- A trailing exit at its breakeven floor with EXIT_PNL_BASIS=net realizes P&L ≥ 0 after fees.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, text

from shared_data.models import TradeRecord
from sighook.entry_alerts import EntryAlerter, read_blockers
from sighook.matrix import BuySellMatrix, MatrixRow
from sighook.rules import Decision
from simulator.app import RunningSimulator
from tests.e2e.harness import Daemon, buy_alert, e2e_settings, eventually, running_daemon, start_test_simulator

SYMBOL = "ETH-USD"
TRAIL = "SOL-USD"


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), [SYMBOL, TRAIL])
    try:
        yield running
    finally:
        await running.stop()


def maker_settings(**overrides: Any) -> Any:
    base: dict[str, Any] = dict(entry_order_type="post_only", exit_order_style="resting", exit_pnl_basis="net",
                                working_poll_interval_s=0.1, book_cache_ttl_s=0.2)
    base.update(overrides)
    return e2e_settings(**base)


def buy_matrix(symbol: str, candle_time: datetime, close: D) -> BuySellMatrix:
    row = MatrixRow(product_id=symbol, hodl=False, candle_time=candle_time, as_of=candle_time + timedelta(minutes=1),
                    candles=300, close=close, atr=D("1"), atr_pct=D("1"), votes={"rsi": 1}, score=D("1"),
                    decision=Decision.BUY)
    return BuySellMatrix(computed_at=candle_time + timedelta(minutes=1), granularity="ONE_MINUTE",
                         buy_threshold=D("0.6"), sell_threshold=D("-0.6"), weights={"rsi": D(1)},
                         rows={symbol: row}, skipped={})


async def held_everywhere(d: Daemon, symbol: str) -> dict[str, Any]:
    """What each reader says is held: the view, the dashboard API, the position book, sighook."""
    async with d.sessions() as session:
        view = (await session.execute(text("SELECT size FROM open_positions WHERE symbol = :s"), {"s": symbol})
                ).scalar_one_or_none()
        dust = (await session.execute(text("SELECT size FROM dust_balances WHERE symbol = :s"), {"s": symbol})
                ).scalar_one_or_none()
    blockers = await read_blockers(d.sessions)
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{d.parts['port']}/api/dashboard/positions") as resp:
        assert resp.status == 200
        dashboard = [p for p in await resp.json() if p["symbol"] == symbol]
    book = d.parts["positions"]
    sentinel = [p.size for p in d.parts["monitor"]._positions.open_positions() if p.symbol == symbol]
    return {
        "view": view, "dust": dust, "dashboard": D(str(dashboard[0]["size"])) if dashboard else None,
        "book": book.size_of(symbol) or None, "sentinel": sentinel or None,
        "sighook_sees_position": symbol in blockers.positions,
    }


async def agreed(d: Daemon, check: Any, timeout_s: float = 10.0) -> dict[str, Any]:
    """Every reader's answer once they agree (each refreshes on its own path: fills land in the
    ledger, then the order row; the dashboard polls the book), or the last answers with ok=False."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        answers = await held_everywhere(d, SYMBOL)
        if check(answers):
            return {**answers, "ok": True}
        if asyncio.get_running_loop().time() > deadline:
            return {**answers, "ok": False}
        await asyncio.sleep(0.1)


async def dashboard(d: Daemon, section: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{d.parts['port']}/api/dashboard/{section}") as resp:
        assert resp.status == 200
        return await resp.json()


async def _filled_sells(d: Daemon, symbol: str) -> list[TradeRecord]:
    return [r for r in await d.sells(symbol) if r.status == "FILLED"]


@pytest.mark.slow
async def test_five_sighook_round_trips_reenter_after_every_exit_and_every_reader_agrees(
        db_url: str, sim: RunningSimulator) -> None:
    settings = maker_settings()
    async with running_daemon(db_url, sim, settings) as d:
        alerter = EntryAlerter(settings, d.sessions, url=d.parts["alert_url"], backoff_base_s=0.05)
        desk = d.parts["desk"]
        start = datetime.now(UTC).replace(second=0, microsecond=0)
        kinds = ["post_only", "limit", "market", "post_only", "limit"]
        try:
            for i, kind in enumerate(kinds):
                desk.reconfigure(settings.model_copy(update={"entry_order_type": kind}))
                sim.set_price(SYMBOL, D("100"))
                flat = await agreed(d, lambda h: h == {"view": None, "dust": None, "dashboard": None, "book": None,
                                                     "sentinel": None, "sighook_sees_position": False})
                assert flat["ok"], (i, flat)
                report = await alerter.run(buy_matrix(SYMBOL, start + timedelta(minutes=i), D("100")),
                                           market_now=datetime.now(UTC), max_signal_age_s=3600)
                assert (report.planned, report.sent, report.skipped) == (1, 1, {}), (i, kind, report)
                if kind == "post_only":
                    await eventually(lambda: desk.working(), what="working post-only entry")
                    shown = await dashboard(d, "working-orders")
                    assert (shown[0]["symbol"], shown[0]["purpose"], shown[0]["order_type"], shown[0]["state"],
                            shown[0]["limit_price"]) == (SYMBOL, "entry", "post_only", "working", "99.99"), shown[0]
                    sim.set_price(SYMBOL, D("99.95"))  # trades through our bid at 99.99
                await eventually(lambda: d.position_size(SYMBOL) > 0, what=f"round trip {i} entry ({kind})")
                await eventually(lambda: not desk.working(), what="entry finished")
                held = await agreed(d, lambda h: h["book"] is not None and h == {
                    "view": h["book"], "dust": None, "dashboard": h["book"], "book": h["book"],
                    "sentinel": [h["book"]], "sighook_sees_position": True})
                assert held["ok"], (i, held)
                # While held, sighook does not enter again (has_position).
                again = await alerter.run(buy_matrix(SYMBOL, start + timedelta(minutes=i, seconds=30), D("100")),
                                          market_now=datetime.now(UTC), max_signal_age_s=3600)
                assert again.skipped == {SYMBOL: "has_position"}
                # Take profit on the net basis, resting above the bid, filled as maker when price trades up.
                sim.set_price(SYMBOL, D("109"))
                await eventually(lambda: desk.working_exit(SYMBOL) is not None, what="resting exit")
                sim.set_price(SYMBOL, D("109.5"))
                await eventually(lambda i=i: _count(d, i + 1), what=f"round trip {i} exit filled")
                await eventually(lambda: d.position_size(SYMBOL) == 0, what="flat")
                await eventually(lambda: not desk.working(), what="exit finished")
            sells = await _filled_sells(d, SYMBOL)
            assert len(sells) == 5 and {s.exit_reason for s in sells} == {"take_profit"}, [
                (s.order_time.isoformat(), s.exit_reason, s.trigger, s.price) for s in sells]
            assert all(s.pnl_usd is not None and s.pnl_usd > 0 for s in sells)
            # The breakers counted each working exit once, with the P&L of all its children.
            total = sum(s.pnl_usd for s in sells)

            async def counted() -> bool:
                return (await d.parts["risk"].state()).counters.realized_pnl_usd == total

            await eventually(counted, what="risk counters hold the five exits' P&L")
            final = await held_everywhere(d, SYMBOL)
            assert final["view"] is None and final["dust"] is None and not final["sighook_sees_position"]
            async with d.sessions() as session:
                buys = (await session.execute(select(TradeRecord.order_type, TradeRecord.status).where(
                    TradeRecord.symbol == SYMBOL, TradeRecord.side == "BUY", TradeRecord.status == "FILLED"))).all()
            assert sorted(t for t, _ in buys) == ["LIMIT", "LIMIT", "LIMIT", "LIMIT", "MARKET"]
        finally:
            await alerter.close()


async def _count(d: Daemon, n: int) -> bool:
    return len(await _filled_sells(d, SYMBOL)) >= n


@pytest.mark.slow
async def test_net_basis_trailing_exit_at_its_floor_realizes_no_loss_after_fees(
        db_url: str, sim: RunningSimulator) -> None:
    # 5 % trailing distance: at activation the ATR stop lies below the floor, so the stop *is* the floor.
    settings = maker_settings(trailing_min_distance_pct="5", trailing_max_distance_pct="5")
    async with running_daemon(db_url, sim, settings) as d:
        sim.set_price(TRAIL, D("100"))
        status, body = await d.post_alert(buy_alert(TRAIL, notional="500"))
        assert status == 200, body
        await eventually(lambda: d.parts["desk"].working(), what="post-only entry working")
        sim.set_price(TRAIL, D("99.95"))
        await eventually(lambda: d.position_size(TRAIL) > 0, what="entry filled")
        # The sentinel's own view (the position book refreshes its list when the fill's order row lands).
        basis = await eventually(lambda: next((p for p in d.parts["monitor"]._positions.open_positions()
                                               if p.symbol == TRAIL), None), what="position seen by the sentinel")
        floor = basis.avg_entry_price  # the net break-even price: 99.99 × 1.006 / (1 − 0.012)
        assert floor > basis.entry_price * D("1.018")
        sim.set_price(TRAIL, (floor * D("1.04")).quantize(D("0.01")))  # +4 % over the basis: activates
        stop = await eventually(lambda: (s := d.parts["monitor"].trailing_stop(TRAIL)) is not None
                                and s.current_stop is not None and s, what="trailing stop active")
        assert stop.current_stop == floor
        sim.set_price(TRAIL, (floor - D("0.05")).quantize(D("0.01")))  # bid just under the floor: triggers
        await eventually(lambda: d.parts["desk"].working_exit(TRAIL) is not None, what="resting trailing exit")
        sim.set_price(TRAIL, (floor + D("0.10")).quantize(D("0.01")))  # trades up through the resting limit
        sell = await eventually(lambda: _first_filled(d), what="trailing exit filled")
        assert sell.exit_reason == "trailing_stop"
        assert sell.pnl_usd is not None and sell.pnl_usd >= 0, sell.pnl_usd


async def _first_filled(d: Daemon) -> TradeRecord | None:
    sells = await _filled_sells(d, TRAIL)
    return sells[0] if sells and sells[0].pnl_usd is not None else None


RED = "BTC-USD"


@pytest.fixture(scope="module")
async def red_sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("red")), [RED])
    try:
        yield running
    finally:
        await running.stop()


@pytest.mark.slow
async def test_red_day_filter_refuses_an_alert_buy_with_its_own_reason_code(
        db_url: str, red_sim: RunningSimulator) -> None:
    from shared_data.models import Alert

    red_sim.set_price(RED, D("50"))  # half the 24 h open: a red day
    async with running_daemon(db_url, red_sim, maker_settings(allow_buys_on_red_day=False)) as d:
        status, body = await d.post_alert(buy_alert(RED))
        assert status == 200, body

        async def refused() -> Any:
            async with d.sessions() as session:
                row = (await session.execute(select(Alert).where(Alert.symbol == RED))).scalar_one_or_none()
            return row if row is not None and row.status != "accepted" else None

        alert = await eventually(refused, what="alert processed")
        assert alert.status == "rejected_risk" and (alert.status_reason or "").startswith("RED_DAY:"), (
            alert.status, alert.status_reason)
        async with d.sessions() as session:
            orders = (await session.execute(select(TradeRecord).where(TradeRecord.symbol == RED))).scalars().all()
            working = (await session.execute(text("SELECT count(*) FROM working_orders WHERE symbol = :s"),
                                             {"s": RED})).scalar_one()
        assert orders == [] and working == 0
        assert red_sim.engine.open_orders(RED) == []
