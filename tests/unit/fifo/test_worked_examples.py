"""The tax reference's worked examples (§10), through the pure engine, every column."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from core.enums import HoldingTerm
from fifo_engine.engine import FifoBook, allocate_all
from fifo_engine.model import Allocation
from tests.unit.fifo.factories import T0, fill, tv2_fills


def _hours(h: int) -> datetime:
    return T0.replace(hour=15 + h)


def test_tv2_allocations_every_column() -> None:
    book = FifoBook()
    out = [a for f in tv2_fills() for a in book.apply(f)]
    assert out == [
        Allocation(
            portfolio_id="default", symbol="XYZ-USD", sell_order_id="o-S1", buy_order_id="o-B1", sell_trade_id="S1",
            buy_trade_id="B1", slice_index=0, allocated_size=D("50"), buy_price=D("50"), sell_price=D("120"),
            buy_fees_per_unit=D("0.10"), sell_fees_per_unit=D("0.20"), cost_basis_usd=D("2505.00"),
            proceeds_usd=D("6000.00"), net_proceeds_usd=D("5990.00"), pnl_usd=D("3485.00"), buy_time=_hours(0),
            sell_time=_hours(1), holding_term=HoldingTerm.SHORT, missing_basis=False,
        ),
        Allocation(
            portfolio_id="default", symbol="XYZ-USD", sell_order_id="o-S2", buy_order_id="o-B1", sell_trade_id="S2",
            buy_trade_id="B1", slice_index=0, allocated_size=D("40"), buy_price=D("50"), sell_price=D("90"),
            buy_fees_per_unit=D("0.10"), sell_fees_per_unit=D("0.25"), cost_basis_usd=D("2004.00"),
            proceeds_usd=D("3600.00"), net_proceeds_usd=D("3590.00"), pnl_usd=D("1586.00"), buy_time=_hours(0),
            sell_time=_hours(3), holding_term=HoldingTerm.SHORT, missing_basis=False,
        ),
    ]
    # Row arithmetic of the reference §1 holds on every row.
    for a in out:
        assert a.cost_basis_usd == a.allocated_size * (a.buy_price + a.buy_fees_per_unit)
        assert a.proceeds_usd == a.allocated_size * a.sell_price
        assert a.net_proceeds_usd == a.allocated_size * (a.sell_price - a.sell_fees_per_unit)
        assert a.pnl_usd == a.net_proceeds_usd - a.cost_basis_usd


def test_tv2_state_afterwards() -> None:
    book = FifoBook()
    for f in tv2_fills():
        book.apply(f)
    lots = book.open_lots("XYZ-USD")
    assert [(lot.buy_trade_id, lot.remaining, lot.basis_remaining) for lot in lots] == [
        ("B1", D("10"), D("501.00")), ("B2", D("50"), D("6510.00")),
    ]
    pos = book.position("XYZ-USD")
    assert pos.realized_pnl_usd == D("5071.00")
    assert pos.size == D("60")
    assert pos.cost_basis_usd == D("7011.00")
    assert pos.opened_at == _hours(0)  # the oldest open lot
    assert pos.avg_entry_price == D("116.6666666666666666666666666666666666667")  # (10×50 + 50×130) / 60
    assert pos.cost_per_unit == D("116.85")  # 7011 / 60, fees included
    assert pos.open_lots == 2
    # Cross-check from the reference: rotki's fees-as-expenses total 5060 + the 11 of fee in open lots.
    assert pos.realized_pnl_usd == D(5060) + (D(1) + D(10))


def test_tv2_allocate_all_matches_incremental_whatever_the_input_order() -> None:
    fills = tv2_fills()
    book = FifoBook()
    incremental = [a for f in fills for a in book.apply(f)]
    assert allocate_all(reversed(fills)) == incremental


def test_tv1_long_term_cases_with_fees_in_basis_and_proceeds() -> None:
    # IRS Link & Learn case 3: purchase amounts include the commission (put here as the buy fee).
    fills = [
        fill("XYZ-b", "BUY", "200", "7.40", "20", datetime(2014, 8, 12, 15, tzinfo=UTC), symbol="XYZ-USD"),
        fill("TUV-b", "BUY", "500", "15.92", "40", datetime(2015, 10, 1, 15, tzinfo=UTC), symbol="TUV-USD"),
        fill("QRS-b", "BUY", "2000", "2.49", "20", datetime(2015, 11, 18, 15, tzinfo=UTC), symbol="QRS-USD"),
        fill("XYZ-s", "SELL", "200", "9.375", "35", datetime(2024, 1, 10, 15, tzinfo=UTC), symbol="XYZ-USD"),
        fill("TUV-s", "SELL", "500", "12", "40", datetime(2024, 1, 10, 15, tzinfo=UTC), symbol="TUV-USD"),
        fill("QRS-s", "SELL", "2000", "5", "50", datetime(2024, 5, 27, 15, tzinfo=UTC), symbol="QRS-USD"),
    ]
    rows = {a.symbol: a for a in allocate_all(fills)}
    assert {s: (r.cost_basis_usd, r.proceeds_usd, r.net_proceeds_usd, r.pnl_usd) for s, r in rows.items()} == {
        "XYZ-USD": (D(1500), D(1875), D(1840), D(340)),
        "TUV-USD": (D(8000), D(6000), D(5960), D(-2040)),
        "QRS-USD": (D(5000), D(10000), D(9950), D(4950)),
    }
    assert {r.holding_term for r in rows.values()} == {HoldingTerm.LONG}
    assert sum(r.pnl_usd for r in rows.values()) == D(3250)
