"""The simulator's books survive a restart: balances, orders (resting ones keep matching), fills, prices, candles."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from simulator.app import SimulatorConfig, start_simulator
from simulator.store import SimStateStore, StateLocked, remove_state

PRODUCT = "BTC-USD"


def _config(state_dir: Path, **extra: object) -> SimulatorConfig:
    return SimulatorConfig(state_dir=state_dir, products=[PRODUCT], auto_tick=False, persist=True,
                           initial_prices={PRODUCT: D("100")}, initial_balances={"USD": D("10000")},
                           history_minutes=30, **extra)  # type: ignore[arg-type]


def _limit(size: str, price: str) -> dict[str, object]:
    return {"limit_limit_gtc": {"base_size": size, "limit_price": price}}


async def test_books_survive_a_restart_and_resting_orders_keep_matching(tmp_path: Path) -> None:
    sim = await start_simulator(_config(tmp_path))
    try:
        engine = sim.engine
        account = engine.config.portfolio_id
        now = sim.ctx.now()
        bought = engine.create_order("c-buy", PRODUCT, "BUY", {"market_market_ioc": {"quote_size": "500"}}, now)
        sim.ctx.pump()
        resting = engine.create_order("c-rest", PRODUCT, "BUY", _limit("1", "90"), now)
        sim.ctx.pump()
        sim.set_price(PRODUCT, D("120"))
        assert bought.order is not None and resting.order is not None
        before_balances = sim.balances()
        before_fills = [f.trade_id for f in engine.fills]
        candles_before = len(engine.markets[PRODUCT].candles)
    finally:
        await sim.stop()

    again = await start_simulator(_config(tmp_path))
    try:
        engine = again.engine
        assert engine.config.portfolio_id == account
        assert again.balances() == before_balances
        assert [f.trade_id for f in engine.fills] == before_fills
        assert engine.markets[PRODUCT].price == D("120")
        assert len(engine.markets[PRODUCT].candles) >= candles_before
        assert [o.order_id for o in engine.open_orders()] == [resting.order.order_id]
        # A re-sent client_order_id answers with the stored order, never a second one.
        dup = engine.create_order("c-buy", PRODUCT, "BUY", {"market_market_ioc": {"quote_size": "500"}},
                                  again.ctx.now())
        assert dup.duplicate and dup.order is not None and dup.order.order_id == bought.order.order_id
        again.set_price(PRODUCT, D("89"))  # the restored resting buy trades through and fills
        order = engine.orders[resting.order.order_id]
        assert order.status == "FILLED"
        new_ids = {f.trade_id for f in engine.fills} - set(before_fills)
        assert new_ids and not new_ids & set(before_fills)
        filled_balances = again.balances()
    finally:
        await again.stop()

    third = await start_simulator(_config(tmp_path))
    try:
        assert third.balances() == filled_balances
        assert third.engine.orders[resting.order.order_id].status == "FILLED"
    finally:
        await third.stop()


async def test_a_wiped_state_is_a_new_account_with_new_ids(tmp_path: Path) -> None:
    first = await start_simulator(_config(tmp_path))
    try:
        account = first.engine.config.portfolio_id
        ids = {first.engine.new_id() for _ in range(3)}
    finally:
        await first.stop()
    assert remove_state(tmp_path)
    second = await start_simulator(_config(tmp_path))
    try:
        assert second.engine.config.portfolio_id != account
        assert not ids & {second.engine.new_id() for _ in range(3)}
    finally:
        await second.stop()


async def test_one_simulator_per_state_directory(tmp_path: Path) -> None:
    sim = await start_simulator(_config(tmp_path))
    try:
        with pytest.raises(StateLocked):
            SimStateStore(tmp_path)
    finally:
        await sim.stop()
    SimStateStore(tmp_path).close()  # released on stop


def test_tagged_json_round_trips_exact_values() -> None:
    from simulator.store import dumps, loads

    value = {"a": D("0.10000000"), "t": datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC), "n": None}
    assert loads(dumps(value)) == value
    assert str(loads(dumps(value))["a"]) == "0.10000000"


async def test_an_edited_order_keeps_its_edit_history_across_a_restart(tmp_path: Path) -> None:
    """Edits (issue #21) are part of the books: price, size and every edit_history entry come back."""
    from simulator.engine.edits import EditRequest, edit_order

    sim = await start_simulator(_config(tmp_path))
    try:
        engine = sim.engine
        placed = engine.create_order("c-edit", PRODUCT, "BUY", _limit("1", "80"), sim.ctx.now())
        sim.ctx.pump()
        assert placed.order is not None
        order_id = placed.order.order_id
        for price in ("81", "82"):
            outcome = edit_order(engine, EditRequest(order_id, D("1"), D(price), None), sim.ctx.now())
            assert outcome.order is not None, outcome
            sim.ctx.pump()
        before = engine.orders[order_id]
        assert [e.price for e in before.edit_history] == [D("81"), D("82")]
        hold_before = sim.balances()
    finally:
        await sim.stop()

    again = await start_simulator(_config(tmp_path))
    try:
        order = again.engine.orders[order_id]
        assert order.status == "OPEN"
        assert order.spec.limit_price == D("82")
        assert [(e.price, e.size) for e in order.edit_history] == [(D("81"), D("1")), (D("82"), D("1"))]
        assert again.balances() == hold_before
        again.set_price(PRODUCT, D("81.5"))  # trades through the edited price, not the original one
        assert again.engine.orders[order_id].status == "FILLED"
    finally:
        await again.stop()
