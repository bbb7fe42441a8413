"""Scripted fills and the `fifo_allocations` rows the FIFO engine writes for them, built with the row
arithmetic of the tax reference §1 (terms from `fifo_engine.engine.holding_term`). Shared by the unit
tests, the database integration tests and the browser test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from core.enums import HoldingTerm, Side
from fifo_engine.engine import holding_term
from fifo_engine.model import Allocation
from reports.tax import AllocationRow

D = Decimal
NY = "America/New_York"


def utc(y: int, m: int, d: int, hh: int = 15, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


@dataclass(frozen=True)
class F:
    """One exchange fill (USD pair)."""

    trade_id: str
    order_id: str
    symbol: str
    side: Side
    price: Decimal
    size: Decimal
    commission: Decimal
    trade_time: datetime


# One fifo_allocations row: the FIFO engine's own value type (every column except id/created_at).
Slice = Allocation


def allocation_row(s: Slice) -> AllocationRow:
    """The columns of a slice that the tax report reads."""
    return AllocationRow(s.symbol, s.sell_order_id, s.buy_order_id, s.allocated_size, s.cost_basis_usd,
                         s.proceeds_usd, s.net_proceeds_usd, s.pnl_usd, s.buy_time, s.sell_time,
                         s.holding_term, s.missing_basis)


def make_slice(sell: F, buy: F | None, size: Decimal, index: int = 0) -> Slice:
    """§1: basis = size × (buy price + buy fee/unit), net = size × (sell price − sell fee/unit); a slice
    without a buy lot is the $0-basis, short-term `missing_basis` row of §6."""
    sell_fpu = sell.commission / sell.size
    buy_fpu = buy.commission / buy.size if buy else D(0)
    basis = size * (buy.price + buy_fpu) if buy else D(0)
    net = size * (sell.price - sell_fpu)
    term = holding_term(buy.trade_time, sell.trade_time, NY, True) if buy else HoldingTerm.SHORT
    return Slice(
        portfolio_id="default", symbol=sell.symbol, sell_order_id=sell.order_id,
        buy_order_id=buy.order_id if buy else None, sell_trade_id=sell.trade_id,
        buy_trade_id=buy.trade_id if buy else None, slice_index=index, allocated_size=size,
        buy_price=buy.price if buy else D(0), sell_price=sell.price, buy_fees_per_unit=buy_fpu,
        sell_fees_per_unit=sell_fpu, cost_basis_usd=basis, proceeds_usd=size * sell.price, net_proceeds_usd=net,
        pnl_usd=net - basis, buy_time=buy.trade_time if buy else None, sell_time=sell.trade_time,
        holding_term=HoldingTerm(term), missing_basis=buy is None,
    )


# ---- TV-2: four fills of one USD pair within one year (15:00 UTC = 10:00/11:00 in New York) ------------
B1 = F("B1", "ob1", "ABC-USD", Side.BUY, D("50"), D("100"), D("10"), utc(2024, 2, 1))
S1 = F("S1", "os1", "ABC-USD", Side.SELL, D("120"), D("50"), D("10"), utc(2024, 3, 1))
B2 = F("B2", "ob2", "ABC-USD", Side.BUY, D("130"), D("50"), D("10"), utc(2024, 4, 1))
S2 = F("S2", "os2", "ABC-USD", Side.SELL, D("90"), D("40"), D("10"), utc(2024, 5, 1))
TV2_FILLS = [B1, S1, B2, S2]
TV2_SLICES = [make_slice(S1, B1, D(50)), make_slice(S2, B1, D(40))]

# TV-2's expected fifo_allocations, written out as in the reference table.
TV2_ALLOCATIONS = [
    AllocationRow("ABC-USD", "os1", "ob1", D("50"), D("2505.00"), D("6000.00"), D("5990.00"), D("3485.00"),
                  utc(2024, 2, 1), utc(2024, 3, 1), HoldingTerm.SHORT),
    AllocationRow("ABC-USD", "os2", "ob1", D("40"), D("2004.00"), D("3600.00"), D("3590.00"), D("1586.00"),
                  utc(2024, 2, 1), utc(2024, 5, 1), HoldingTerm.SHORT),
]


def tv1_slices() -> list[Slice]:
    """TV-1 (IRS Link & Learn case study 3): purchase amounts include the commission (so the buy fee is 0
    and the price is cost/size); the sale commission is the sell fee."""
    facts = [
        # asset, size, bought, cost incl. commission, sold, gross proceeds, sale commission
        ("XYZ", D("200"), utc(2014, 8, 12), D("1500"), utc(2024, 1, 10), D("1875"), D("35")),
        ("TUV", D("500"), utc(2015, 10, 1), D("8000"), utc(2024, 1, 10), D("6000"), D("40")),
        ("QRS", D("2000"), utc(2015, 11, 18), D("5000"), utc(2024, 5, 27), D("10000"), D("50")),
    ]
    out = []
    for asset, size, bought, cost, sold, gross, commission in facts:
        buy = F(f"tb-{asset}", f"buy-{asset}", f"{asset}-USD", Side.BUY, cost / size, size, D(0), bought)
        sell = F(f"ts-{asset}", f"sell-{asset}", f"{asset}-USD", Side.SELL, gross / size, size, commission, sold)
        out.append(make_slice(sell, buy, size))
    return out


def tv1_allocations() -> list[AllocationRow]:
    return [allocation_row(s) for s in tv1_slices()]


# ---- the one-year boundary: lots bought 2023-03-15 and 2024-02-29 (New York dates) ---------------------
LOT_MAR = F("b-mar", "ob-mar", "ETH-USD", Side.BUY, D("2000"), D("0.75"), D("0"), utc(2023, 3, 15))
LOT_LEAP = F("b-leap", "ob-leap", "ETH-USD", Side.BUY, D("3000"), D("0.5"), D("0"), utc(2024, 2, 29))
BOUNDARY_SELLS = [
    ("s-anniv", utc(2024, 3, 15), LOT_MAR),  # the anniversary: still short-term
    # 03:30 UTC on 16 March is 23:30 on 15 March in New York: the trade date is still the anniversary.
    ("s-late", utc(2024, 3, 16, 3, 30), LOT_MAR),
    ("s-next", utc(2024, 3, 16), LOT_MAR),  # the day after: long-term
    ("s-leap-anniv", utc(2025, 2, 28), LOT_LEAP),  # a 29 Feb lot's anniversary is 28 Feb: short-term
    ("s-leap-next", utc(2025, 3, 1), LOT_LEAP),  # first long-term day
]


def boundary_fills() -> list[F]:
    sells = [F(t, "o" + t, "ETH-USD", Side.SELL, D("2500"), D("0.25"), D("0"), when)
             for t, when, _lot in BOUNDARY_SELLS]
    return [LOT_MAR, LOT_LEAP, *sells]


def boundary_slices() -> list[Slice]:
    fills = {f.trade_id: f for f in boundary_fills()}
    return [make_slice(fills[t], lot, D("0.25")) for t, _when, lot in BOUNDARY_SELLS]
