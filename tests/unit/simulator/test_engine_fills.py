"""Fills, fees, holds and balances of the matching engine (pure, no I/O)."""

from __future__ import annotations

from datetime import timedelta

from simulator.engine.book import BookParams
from simulator.engine.events import FillEvent, OrderEvent
from tests.unit.simulator.helpers import T0, D, limit, make_engine

TAKER, MAKER = D("0.012"), D("0.006")


def test_market_buy_by_quote_costs_exactly_the_quote_size() -> None:
    e = make_engine()
    out = e.create_order("c1", "BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "5"}}, T0)
    o = out.order
    assert o is not None and o.status == "FILLED"
    assert o.filled_value + o.total_fees == D("5")
    # filled_value = quote / (1 + taker) up to sub-cent dust from the 1e-12 size grid
    assert abs(o.filled_value - D("5") / (1 + TAKER)) < D("1e-6")
    assert e.balances()["USD"] == (D("99995"), D("0"))
    assert e.balances()["BTC"] == (o.filled_size, D("0"))
    assert sum(f.size for f in e.fills) == o.filled_size


def test_market_sell_pays_taker_fee_from_proceeds() -> None:
    e = make_engine({"USD": D("0"), "BTC": D("1")})
    o = e.create_order("s1", "BTC-USD", "SELL", {"market_market_ioc": {"base_size": "0.5"}}, T0).order
    assert o is not None and o.status == "FILLED" and o.filled_size == D("0.5")
    assert o.total_fees == o.filled_value * TAKER
    assert e.balances()["USD"] == (o.filled_value - o.total_fees, D("0"))
    assert e.balances()["BTC"] == (D("0.5"), D("0"))


def test_market_order_walks_the_book_with_slippage() -> None:
    e = make_engine({"USD": D("0"), "BTC": D("10")})
    best_bid = e.markets["BTC-USD"].book.best_bid
    assert best_bid is not None
    o = e.create_order("s1", "BTC-USD", "SELL", {"market_market_ioc": {"base_size": "3"}}, T0).order
    assert o is not None and o.number_of_fills > 1
    prices = [f.price for f in e.fills]
    assert prices == sorted(prices, reverse=True) and prices[0] == best_bid.price
    assert o.average_price < best_bid.price
    events = e.drain_events()
    statuses = [ev.order.status for ev in events if isinstance(ev, OrderEvent)]
    assert statuses == ["PENDING", "FILLED"]  # several fills merged into one update
    assert sum(1 for ev in events if isinstance(ev, FillEvent)) == o.number_of_fills


def test_limit_buy_holds_size_times_price_plus_taker_fee_and_fills_as_maker() -> None:
    e = make_engine()
    o = e.create_order("b1", "BTC-USD", "BUY", limit("0.1", "59000.00"), T0).order
    assert o is not None and o.status == "OPEN"
    hold = D("0.1") * D("59000") * (1 + TAKER)
    assert e.balances()["USD"] == (D("100000") - hold, hold)
    e.set_price("BTC-USD", D("58990"), T0 + timedelta(seconds=1))
    assert o.status == "FILLED" and o.filled_size == D("0.1")
    fill = e.fills[-1]
    assert fill.liquidity_indicator == "MAKER" and fill.price == D("59000")
    assert fill.commission == D("5900") * MAKER
    assert e.balances()["USD"] == (D("100000") - D("5900") - D("5900") * MAKER, D("0"))
    assert e.balances()["BTC"] == (D("0.1"), D("0"))


def test_resting_order_does_not_fill_until_the_price_trades_through() -> None:
    e = make_engine()
    o = e.create_order("b1", "BTC-USD", "BUY", limit("0.1", "59000.00"), T0).order
    assert o is not None
    e.set_price("BTC-USD", D("59000"), T0)
    assert o.status == "OPEN" and o.filled_size == 0
    touch = make_engine(fill_on_touch=True)
    t = touch.create_order("b1", "BTC-USD", "BUY", limit("0.1", "59000.00"), T0).order
    touch.set_price("BTC-USD", D("59000"), T0)
    assert t is not None and t.status == "FILLED"


def test_partial_fills_keep_the_hold_proportional() -> None:
    e = make_engine(maker_fill_notional_per_tick=D("1000"))
    o = e.create_order("b1", "ETH-USD", "BUY", limit("1", "2900.00"), T0).order
    assert o is not None
    per_unit = D("2900") * (1 + TAKER)
    e.set_price("ETH-USD", D("2899"), T0)
    assert o.status == "OPEN" and 0 < o.filled_size < 1
    assert o.hold_remaining == (1 - o.filled_size) * per_unit
    assert e.balances()["USD"][1] == o.hold_remaining
    while o.status == "OPEN":
        e.set_price("ETH-USD", D("2899"), T0)
    assert o.status == "FILLED" and o.filled_size == 1 and o.number_of_fills == 3
    assert e.balances()["USD"] == (D("100000") - D("2900") * (1 + MAKER), D("0"))


def test_sell_limit_holds_base_and_cancel_releases_everything() -> None:
    e = make_engine({"USD": D("0"), "ETH": D("2")})
    o = e.create_order("s1", "ETH-USD", "SELL", limit("1.5", "3500.00"), T0).order
    assert o is not None and e.balances()["ETH"] == (D("0.5"), D("1.5"))
    result = e.cancel_orders([o.order_id, "unknown"], T0)
    assert [(r.success, r.failure_reason) for r in result] == [
        (True, "UNKNOWN_CANCEL_FAILURE_REASON"), (False, "UNKNOWN_CANCEL_ORDER")]
    assert o.status == "CANCELLED" and e.balances()["ETH"] == (D("2"), D("0"))
    statuses = [ev.order.status for ev in e.drain_events() if isinstance(ev, OrderEvent)]
    assert statuses == ["PENDING", "OPEN", "CANCEL_QUEUED", "CANCELLED"]
    assert e.cancel_orders([o.order_id], T0)[0].failure_reason == "DUPLICATE_CANCEL_REQUEST"


def test_delayed_cancel_can_still_fill() -> None:
    e = make_engine(cancel_delay_s=5.0)
    o = e.create_order("b1", "BTC-USD", "BUY", limit("0.01", "59000.00"), T0).order
    assert o is not None
    assert e.cancel_orders([o.order_id], T0)[0].success
    assert o.status == "CANCEL_QUEUED" and o.pending_cancel
    e.set_price("BTC-USD", D("58000"), T0 + timedelta(seconds=1))
    assert o.status == "FILLED"
    assert e.cancel_orders([o.order_id], T0)[0].failure_reason == "ORDER_IS_FULLY_FILLED"


def test_marketable_limit_takes_then_rests() -> None:
    e = make_engine(book=BookParams(levels=3, level_notional=D("1000")))
    o = e.create_order("b1", "BTC-USD", "BUY", limit("1", "61000.00"), T0).order
    assert o is not None and o.status == "OPEN" and 0 < o.filled_size < 1
    assert all(f.liquidity_indicator == "TAKER" for f in e.fills)
    assert o.per_base_hold == D("61000") * (1 + TAKER)
    assert o.hold_remaining == (1 - o.filled_size) * o.per_base_hold


def test_ioc_and_fok() -> None:
    e = make_engine()
    ioc = e.create_order("i1", "BTC-USD", "BUY", {"sor_limit_ioc": {"base_size": "0.01", "limit_price": "50000.00"}},
                         T0).order
    assert ioc is not None and ioc.status == "CANCELLED" and ioc.filled_size == 0
    assert e.balances()["USD"] == (D("100000"), D("0"))
    fok = e.create_order("f1", "BTC-USD", "BUY", {"limit_limit_fok": {"base_size": "0.01", "limit_price": "70000.00"}},
                         T0).order
    assert fok is not None and fok.status == "FILLED"
    big = e.create_order("f2", "BTC-USD", "BUY", {"limit_limit_fok": {"base_size": "1", "limit_price": "60010.00"}},
                         T0).order
    assert big is not None and big.status == "CANCELLED" and big.filled_size == 0


def test_gtd_expires_and_stuck_pending_is_released() -> None:
    e = make_engine()
    end = (T0 + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    gtd = e.create_order("g1", "BTC-USD", "BUY", {"limit_limit_gtd": {"base_size": "0.01", "limit_price": "50000.00",
                                                                     "end_time": end, "post_only": False}}, T0).order
    stuck = e.create_order("p1", "BTC-USD", "BUY", limit("0.01", "50000.00"), T0, mode="stuck_pending",
                           pending_until=T0 + timedelta(seconds=10)).order
    assert gtd is not None and stuck is not None and stuck.status == "PENDING"
    e.housekeeping(T0 + timedelta(seconds=11))
    assert stuck.status == "OPEN"
    e.housekeeping(T0 + timedelta(seconds=31))
    assert gtd.status == "EXPIRED" and gtd.cancel_message == "Order expired"
    assert gtd.hold_remaining == 0


def test_stop_limit_and_bracket_trigger() -> None:
    e = make_engine({"USD": D("0"), "BTC": D("1")})
    stop = e.create_order("st", "BTC-USD", "SELL", {"stop_limit_stop_limit_gtc": {
        "base_size": "0.1", "limit_price": "58000.00", "stop_price": "59000.00",
        "stop_direction": "STOP_DIRECTION_STOP_DOWN"}}, T0).order
    bracket = e.create_order("br", "BTC-USD", "SELL", {"trigger_bracket_gtc": {
        "base_size": "0.1", "limit_price": "65000.00", "stop_trigger_price": "58500.00"}}, T0).order
    assert stop is not None and bracket is not None
    assert stop.trigger_status == bracket.trigger_status == "STOP_PENDING"
    assert e.balances()["BTC"] == (D("0.8"), D("0.2"))
    e.set_price("BTC-USD", D("58900"), T0)
    assert stop.trigger_status == "STOP_TRIGGERED" and stop.status == "FILLED"
    assert bracket.status == "OPEN"
    e.set_price("BTC-USD", D("58400"), T0)
    assert bracket.trigger_status == "STOP_TRIGGERED" and bracket.status == "FILLED"
    assert bracket.working_price == D("55575.00")  # 5 % below the trigger
    tp = e.create_order("tp", "BTC-USD", "SELL", {"trigger_bracket_gtc": {
        "base_size": "0.1", "limit_price": "59000.00", "stop_trigger_price": "57000.00"}}, T0).order
    e.set_price("BTC-USD", D("59100"), T0)
    assert tp is not None and tp.status == "FILLED" and e.fills[-1].liquidity_indicator == "MAKER"


def test_duplicate_client_order_id_returns_existing_without_a_second_hold() -> None:
    e = make_engine()
    first = e.create_order("same", "BTC-USD", "BUY", limit("0.01", "50000.00"), T0)
    second = e.create_order("same", "BTC-USD", "BUY", limit("0.5", "40000.00"), T0)
    assert second.duplicate and second.order is first.order
    assert len(e.orders) == 1 and e.balances()["USD"][1] == D("0.01") * D("50000") * (1 + TAKER)


def test_failed_after_acceptance_releases_the_hold() -> None:
    e = make_engine()
    o = e.create_order("f", "BTC-USD", "BUY", limit("0.01", "50000.00"), T0, mode="fail").order
    assert o is not None and o.status == "FAILED" and o.reject_reason == "HOLD_FAILURE"
    assert e.balances()["USD"] == (D("100000"), D("0"))


def _run(seed: int) -> tuple[list[object], list[str], list[tuple[object, ...]]]:
    e = make_engine(seed=seed)
    prices = []
    for i in range(50):
        e.tick(T0 + timedelta(seconds=i))
        prices.append(e.markets["BTC-USD"].price)
        if i % 10 == 0:
            e.create_order(f"c{i}", "BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "100"}},
                           T0 + timedelta(seconds=i))
    return prices, list(e.orders), [(f.trade_id, f.price, f.size, f.commission) for f in e.fills]


def test_prices_and_fills_follow_the_seed_but_ids_never_repeat() -> None:
    first, second = _run(11), _run(11)
    assert first[0] == second[0]  # the price path
    assert [f[1:] for f in first[2]] == [f[1:] for f in second[2]]  # fill prices, sizes, fees
    assert not set(first[1]) & set(second[1])  # order ids: random, never reissued
    assert not {f[0] for f in first[2]} & {f[0] for f in second[2]}  # trade ids
    assert _run(11)[0] != _run(12)[0]


def test_balances_are_conserved_across_many_trades() -> None:
    e = make_engine({"USD": D("50000"), "BTC": D("1")})
    for i in range(40):
        now = T0 + timedelta(seconds=i)
        e.tick(now)
        side = "BUY" if i % 2 else "SELL"
        e.create_order(f"m{i}", "BTC-USD", side, {"market_market_ioc": {"base_size": "0.01"}}, now)
        e.create_order(f"l{i}", "BTC-USD", side, limit("0.01", str(e.markets["BTC-USD"].price)), now)
    fees = sum((f.commission for f in e.fills), D(0))
    bought = sum((f.price * f.size for f in e.fills if f.side == "BUY"), D(0))
    sold = sum((f.price * f.size for f in e.fills if f.side == "SELL"), D(0))
    usd_avail, usd_hold = e.balances()["USD"]
    assert usd_avail + usd_hold == D("50000") - bought + sold - fees
    btc_avail, btc_hold = e.balances()["BTC"]
    net = sum((f.size if f.side == "BUY" else -f.size for f in e.fills), D(0))
    assert btc_avail + btc_hold == 1 + net
    open_hold = sum((o.hold_remaining for o in e.orders.values() if o.is_buy and not o.terminal), D(0))
    assert usd_hold == open_hold


def test_marketable_limit_filled_on_arrival_announces_filled() -> None:
    """A limit that fills completely on arrival must still emit a FILLED user update (no fill messages exist)."""
    e = make_engine({"USD": D("0"), "ETH": D("2")})
    o = e.create_order("s-fill", "ETH-USD", "SELL", limit("0.5", "2900.00"), T0).order
    assert o is not None and o.status == "FILLED"
    statuses = [ev.order.status for ev in e.drain_events() if isinstance(ev, OrderEvent)]
    assert statuses == ["PENDING", "FILLED"]
