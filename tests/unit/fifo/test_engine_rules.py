"""FIFO engine rules: missing basis, exact fee remainders, the total order, bad input."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.enums import HoldingTerm
from fifo_engine.engine import MONEY_PLACES, FifoBook, OutOfOrderFill, allocate_all
from fifo_engine.model import EngineConfig, FillFact
from tests.unit.fifo.factories import T0, fill


def _places(value: D) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


# ---- sells beyond known inventory ------------------------------------------------------------------
def test_sell_beyond_inventory_matches_first_then_one_missing_basis_slice() -> None:
    book = FifoBook()
    book.apply(fill("B", "BUY", "4", "100", "2", 0))
    out = book.apply(fill("S", "SELL", "10", "110", "5", 1))
    matched, missing = out
    assert (matched.buy_trade_id, matched.allocated_size, matched.cost_basis_usd, matched.missing_basis) == (
        "B", D(4), D(402), False)
    assert matched.net_proceeds_usd == D(4) * (D(110) - D("0.5"))
    assert missing.slice_index == 1
    assert missing.missing_basis is True
    assert (missing.buy_trade_id, missing.buy_order_id, missing.buy_time) == (None, None, None)
    assert (missing.allocated_size, missing.cost_basis_usd, missing.buy_price, missing.buy_fees_per_unit) == (
        D(6), D(0), D(0), D(0))
    assert missing.proceeds_usd == D(660)
    assert missing.net_proceeds_usd == missing.pnl_usd == D(660) - D(3)  # full net proceeds as gain
    assert missing.holding_term is HoldingTerm.SHORT
    assert matched.net_proceeds_usd + missing.net_proceeds_usd == D(10) * 110 - 5
    assert book.position("XYZ-USD").size == 0


def test_sell_with_no_inventory_is_one_missing_slice_with_the_configured_term() -> None:
    book = FifoBook(EngineConfig(missing_basis_term=HoldingTerm.LONG))
    (only,) = book.apply(fill("S", "SELL", "1.5", "20", "0.3", 0))
    assert only.missing_basis and only.holding_term is HoldingTerm.LONG
    assert (only.allocated_size, only.net_proceeds_usd, only.pnl_usd) == (D("1.5"), D("29.7"), D("29.7"))
    assert book.position("XYZ-USD").realized_pnl_usd == D("29.7")


# ---- exact sums with non-terminating per-unit fees -------------------------------------------------
def test_lot_basis_slices_sum_exactly_to_size_times_price_plus_fee() -> None:
    book = FifoBook()
    book.apply(fill("B", "BUY", "3", "100.01", "10", 0))  # 10/3 per unit never terminates
    slices = [a for i in range(3) for a in book.apply(fill(f"S{i}", "SELL", "1", "120", "0", 1 + i))]
    assert slices[0].buy_fees_per_unit == D("3." + "3" * 39)  # 10/3 at 40 significant digits
    assert sum(a.cost_basis_usd for a in slices) == D(3) * D("100.01") + D(10)
    assert slices[0].cost_basis_usd == D("103.343333333333333333")  # 18 places, rounded
    assert slices[-1].cost_basis_usd == D("103.343333333333333334")  # remainder on the last slice
    assert all(_places(a.cost_basis_usd) <= MONEY_PLACES for a in slices)
    assert book.position("XYZ-USD").cost_basis_usd == 0


def test_sell_net_proceeds_slices_sum_exactly_to_its_net_proceeds() -> None:
    book = FifoBook()
    for i in range(3):
        book.apply(fill(f"B{i}", "BUY", "1", "50", "0.07", i))
    out = book.apply(fill("S", "SELL", "3", "61.37", "1", 5))  # 1/3 per unit
    assert len(out) == 3
    assert sum(a.net_proceeds_usd for a in out) == D(3) * D("61.37") - D(1)
    assert sum(a.proceeds_usd for a in out) == D(3) * D("61.37")
    assert out[0].net_proceeds_usd == D("61.036666666666666667")
    assert out[-1].net_proceeds_usd == D("61.036666666666666666")
    for a in out:
        assert a.pnl_usd == a.net_proceeds_usd - a.cost_basis_usd


def test_partial_lot_keeps_its_exact_remaining_basis() -> None:
    book = FifoBook()
    book.apply(fill("B", "BUY", "0.3", "27000.12", "0.1", 0))
    book.apply(fill("S1", "SELL", "0.1", "28000", "0.05", 1))
    book.apply(fill("S2", "SELL", "0.07", "28000", "0.05", 2))
    (lot,) = book.open_lots("XYZ-USD")
    total = D("0.3") * D("27000.12") + D("0.1")
    sold = allocate_all([fill("B", "BUY", "0.3", "27000.12", "0.1", 0), fill("S1", "SELL", "0.1", "28000", "0.05", 1),
                         fill("S2", "SELL", "0.07", "28000", "0.05", 2)])
    assert lot.remaining == D("0.13")
    assert lot.basis_remaining + sum(a.cost_basis_usd for a in sold) == total
    assert book.position("XYZ-USD").cost_basis_usd == lot.basis_remaining


# ---- ordering ------------------------------------------------------------------------------------
def test_oldest_lots_first_across_buy_orders_and_portfolios_are_separate_queues() -> None:
    book = FifoBook()
    book.apply(fill("B1", "BUY", "1", "10", "0", 0, order_id="ob-1"))
    book.apply(fill("B2", "BUY", "1", "20", "0", 1, order_id="ob-2"))
    book.apply(fill("P", "BUY", "5", "1", "0", 0, portfolio_id="other"))
    out = book.apply(fill("S", "SELL", "1.5", "30", "0", 2))
    assert [(a.buy_order_id, a.allocated_size) for a in out] == [("ob-1", D(1)), ("ob-2", D("0.5"))]
    assert book.position("XYZ-USD", "other").size == 5
    assert [(p.portfolio_id, p.size) for p in book.positions()] == [("default", D("0.5")), ("other", D(5))]


def test_a_buy_at_the_same_time_is_eligible_only_if_earlier_in_the_total_order() -> None:
    # Same trade_time, no sequence timestamps: trade_id decides ("a-sell" < "b-buy").
    out = allocate_all([fill("b-buy", "BUY", "1", "10", "0", 0), fill("a-sell", "SELL", "1", "12", "0", 0)])
    assert [a.missing_basis for a in out] == [True]
    # A sequence timestamp outranks the trade id.
    later, earlier = T0.replace(microsecond=2), T0.replace(microsecond=1)
    out = allocate_all([fill("b-buy", "BUY", "1", "10", "0", 0, seq=earlier),
                        fill("a-sell", "SELL", "1", "12", "0", 0, seq=later)])
    assert [(a.buy_trade_id, a.missing_basis) for a in out] == [("b-buy", False)]
    # A missing sequence timestamp sorts first.
    out = allocate_all([fill("b-buy", "BUY", "1", "10", "0", 0),
                        fill("a-sell", "SELL", "1", "12", "0", 0, seq=earlier)])
    assert [a.buy_trade_id for a in out] == ["b-buy"]


def test_out_of_order_arrival_replays_the_queue() -> None:
    book = FifoBook()
    book.apply(fill("B2", "BUY", "1", "20", "0", 2))
    first = book.apply_detailed(fill("S", "SELL", "1", "30", "0", 3))
    assert first.allocations[0].buy_trade_id == "B2" and not first.replayed
    late = book.apply_detailed(fill("B1", "BUY", "1", "10", "0", 1))  # earlier than S: S must take it
    assert late.replayed and late.recomputed_sells == ("S",)
    assert [(a.buy_trade_id, a.pnl_usd) for a in late.allocations] == [("B1", D(20))]
    assert [lot.buy_trade_id for lot in book.open_lots("XYZ-USD")] == ["B2"]
    assert book.position("XYZ-USD").realized_pnl_usd == D(20)


def test_duplicates_are_no_ops_and_a_history_less_book_refuses_out_of_order() -> None:
    book = FifoBook()
    b = fill("B", "BUY", "1", "10", "0", 0)
    book.apply(b)
    assert book.apply_detailed(b).duplicate
    assert book.position("XYZ-USD").size == 1
    lean = FifoBook(keep_history=False)
    lean.apply(fill("B2", "BUY", "1", "10", "0", 2))
    with pytest.raises(OutOfOrderFill):
        lean.apply(fill("B1", "BUY", "1", "10", "0", 1))
    with pytest.raises(ValueError, match="duplicate"):
        allocate_all([b, b])


# ---- bad input: clear error, nothing changed --------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"price": 10.5}, TypeError),
        ({"size": D(0)}, ValueError),
        ({"size": D(-1)}, ValueError),
        ({"commission": D(-1)}, ValueError),
        ({"price": D("NaN")}, ValueError),
        ({"price": D("1e30")}, ValueError),
        ({"trade_time": T0.replace(tzinfo=None)}, ValueError),
        ({"side": "HOLD"}, ValueError),
        ({"order_id": ""}, ValueError),
    ],
)
def test_bad_fills_are_refused_without_changes(change: dict[str, object], error: type[Exception]) -> None:
    book = FifoBook()
    book.apply(fill("B", "BUY", "1", "10", "0", 0))
    good = fill("S", "SELL", "1", "12", "0", 1)
    bad = FillFact(**{**{k: getattr(good, k) for k in FillFact.__slots__}, **change})  # type: ignore[arg-type]
    with pytest.raises(error):
        book.apply(bad)
    assert book.position("XYZ-USD").size == 1
    assert book.apply(good)[0].pnl_usd == 2


def test_positive_exponents_are_canonicalised() -> None:
    # 5E+1 and 50 must give the same stored spelling (the database returns 50).
    a = allocate_all([fill("B", "BUY", "2", "50", "0", 0), fill("S", "SELL", "2", "60", "0", 1)])
    b = allocate_all([FillFact("B", "o-B", "XYZ-USD", "BUY", D("5E+1"), D("2"), D("0"), T0),  # type: ignore[arg-type]
                      fill("S", "SELL", "2", "60", "0", 1)])
    assert [str(x.cost_basis_usd) for x in a] == [str(x.cost_basis_usd) for x in b] == ["100"]
