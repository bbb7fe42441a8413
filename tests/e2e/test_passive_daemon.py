"""Passive market making inside the whole daemon (issue #20): PASSIVE_PRODUCTS turns it on; a fill
gets its bracket through the daemon's own loop; the sentinel leaves the bracketed position alone
even past its own take-profit, and the bracket's exit is recorded with its reason."""

from __future__ import annotations

from decimal import Decimal as D

from simulator.app import RunningSimulator
from tests.e2e.harness import e2e_settings, eventually, module_simulator, running_daemon

SYMBOL = "ETH-USD"


sim = module_simulator(SYMBOL)


async def test_daemon_quotes_brackets_and_keeps_the_sentinel_off_a_bracketed_position(
        db_url: str, sim: RunningSimulator) -> None:
    settings = e2e_settings(passive_products=SYMBOL, passive_poll_interval_s=0.1, passive_order_usd="50",
                            passive_filled_delay_s=3600, take_profit_pct="0.5")
    async with running_daemon(db_url, sim, settings) as d:
        manager = d.parts["passive"]
        state = manager.state(SYMBOL)
        bid = await eventually(lambda: state.bid, what="a passive bid")
        assert bid.price == D("99.35")  # 0.65 % under the 100 mid
        sim.set_price(SYMBOL, D("99.3"))
        [bracket] = await eventually(lambda: [b for b in state.brackets if b.order_id], what="a bracket")
        order = await d.parts["orders"]._exchange.get_order(bracket.order_id)
        assert (order.order_type, order.limit_price, order.stop_price) == ("BRACKET", D("100.85"), D("97.36"))
        await eventually(lambda: d.position_size(SYMBOL) == bracket.size, what="the buy in the position book")
        # +0.65 %: past the sentinel's 0.5 % take-profit, under the bracket's. The sentinel must not sell.
        sim.set_price(SYMBOL, D("100"))
        monitor = d.parts["monitor"]
        sweeps = monitor.sweeps
        await eventually(lambda: monitor.sweeps >= sweeps + 4, what="sentinel sweeps")
        assert [s.order_id for s in await d.sells(SYMBOL)] == [bracket.order_id]
        sim.set_price(SYMBOL, D("101"))  # through the take-profit

        async def recorded() -> bool:
            rows = await d.sells(SYMBOL)
            return len(rows) == 1 and rows[0].exit_reason == "bracket_take_profit" and rows[0].status == "FILLED"

        await eventually(recorded, what="the bracket's take-profit recorded")
        await eventually(lambda: d.position_size(SYMBOL) == 0, what="the position closed")


async def test_daemon_hands_a_position_to_the_sentinel_after_the_fifth_bracket_failure(
        db_url: str, sim: RunningSimulator) -> None:
    sim.set_price(SYMBOL, D("100"))
    settings = e2e_settings(passive_products=SYMBOL, passive_poll_interval_s=0.1, passive_order_usd="50",
                            passive_filled_delay_s=3600, take_profit_pct="0.5")
    async with running_daemon(db_url, sim, settings) as d:
        manager = d.parts["passive"]
        state = manager.state(SYMBOL)
        await eventually(lambda: state.bid, what="a passive bid")
        sim.set_price(SYMBOL, D("99.3"))
        [bracket] = await eventually(lambda: [b for b in state.brackets if b.order_id], what="a bracket")
        exchange = d.parts["orders"]._exchange
        for failures in range(1, 6):  # someone keeps cancelling the bracket on the exchange
            live = await eventually(lambda: bracket.order_id, what=f"bracket armed before failure {failures}")
            await exchange.cancel_orders([live])
            await eventually(lambda f=failures: bracket.failures >= f, what=f"failure {failures} seen")
        await eventually(lambda: state.handed_over and not manager.owns(SYMBOL), what="hand-over")
        assert len([s for s in await d.sells(SYMBOL) if s.trigger.get("buy_order_id") == bracket.buy_order_id]) == 5
        # The sentinel now guards it: +0.65 % is past its 0.5 % take-profit.
        sim.set_price(SYMBOL, D("100"))

        async def sentinel_exit() -> bool:
            return any(s.exit_reason == "take_profit" and s.status == "FILLED" for s in await d.sells(SYMBOL))

        await eventually(sentinel_exit, what="the sentinel's take-profit exit")
        await eventually(lambda: d.position_size(SYMBOL) == 0, what="the position closed")
