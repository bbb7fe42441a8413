"""Form 8949 rows from FIFO allocation rows (pure: no I/O, no clock).

The rules are those of `tax-fifo.md` §7/§9: (a) "0.5 BTC", (b)/(c) trade dates in the configured
tax time zone (`VARIOUS` for aggregated blocks and for rows without a known basis), (d) proceeds net
of sale fees (or gross with code E and the fee in (g)), (e) basis including purchase fees, (h) =
(d) − (e) + (g). Part I is short-term, Part II long-term, taken from each row's `holding_term`
(computed by the FIFO engine with calendar-date arithmetic). Money is rounded to cents here and
only here; stored rows keep their full precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.enums import HoldingTerm
from core.money import CENT, ZERO, fmt

LOT_METHOD = "FIFO"
VARIOUS = "VARIOUS"
USD_QUOTES = frozenset({"USD"})


@dataclass(frozen=True)
class AllocationRow:
    """The columns of one `fifo_allocations` row that the tax report needs."""

    symbol: str
    sell_order_id: str
    buy_order_id: str | None
    allocated_size: Decimal
    cost_basis_usd: Decimal
    proceeds_usd: Decimal
    net_proceeds_usd: Decimal
    pnl_usd: Decimal
    buy_time: datetime | None
    sell_time: datetime
    holding_term: HoldingTerm
    missing_basis: bool = False

    @property
    def asset(self) -> str:
        return self.symbol.split("-", 1)[0]

    @property
    def quote(self) -> str:
        parts = self.symbol.split("-", 1)
        return parts[1] if len(parts) == 2 else ""


class ProceedsStyle(StrEnum):
    NET = "net"  # (d) = net proceeds; nothing in (f)/(g)
    GROSS = "gross"  # (d) = gross proceeds; code E in (f); −sale fees in (g)


class Part(StrEnum):
    SHORT = "I"
    LONG = "II"


@dataclass(frozen=True)
class Form8949Row:
    part: Part
    description: str
    date_acquired: str  # MM/DD/YYYY or VARIOUS
    date_sold: str
    proceeds: Decimal  # (d), cents
    cost_basis: Decimal  # (e), cents
    adjustment_code: str  # (f)
    adjustment: Decimal  # (g), cents
    gain_loss: Decimal  # (h) = (d) − (e) + (g)
    missing_basis: bool
    symbol: str
    sell_order_id: str
    sell_time: datetime  # for ordering; not printed on the form


@dataclass(frozen=True)
class PartTotals:
    rows: int
    proceeds: Decimal
    cost_basis: Decimal
    adjustment: Decimal
    gain_loss: Decimal


@dataclass(frozen=True)
class TaxReport:
    year: int | None
    timezone: str
    proceeds_style: ProceedsStyle
    aggregated: bool
    short_term: tuple[Form8949Row, ...]
    long_term: tuple[Form8949Row, ...]
    short_totals: PartTotals
    long_totals: PartTotals
    missing_basis_rows: int
    excluded_non_usd_rows: int
    notes: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def rows(self) -> tuple[Form8949Row, ...]:
        return self.short_term + self.long_term

    @property
    def total_gain_loss(self) -> Decimal:
        return self.short_totals.gain_loss + self.long_totals.gain_loss


def cents(value: Decimal) -> Decimal:
    """Round half away from zero to cents (what PostgreSQL's round(x, 2) does too)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    if moment.tzinfo is None:
        raise ValueError(f"naive timestamp {moment!r}: fills and allocations are stored in UTC")
    return moment.astimezone(tz).date()


def form_date(day: date) -> str:
    return day.strftime("%m/%d/%Y")


def year_bounds(year: int, tz_name: str) -> tuple[datetime, datetime]:
    """[start, end) of a tax year in the tax time zone, as aware datetimes (for DB range queries)."""
    tz = ZoneInfo(tz_name)
    return datetime.combine(date(year, 1, 1), time(), tz), datetime.combine(date(year + 1, 1, 1), time(), tz)


@dataclass
class _Block:
    """Allocation rows that become one 8949 line (one row, or one sell order × term × sell date)."""

    first: AllocationRow
    size: Decimal = ZERO
    proceeds: Decimal = ZERO
    net_proceeds: Decimal = ZERO
    cost_basis: Decimal = ZERO
    acquired: set[date | None] = field(default_factory=set)

    def add(self, row: AllocationRow, acquired: date | None) -> None:
        self.size += row.allocated_size
        self.proceeds += row.proceeds_usd
        self.net_proceeds += row.net_proceeds_usd
        self.cost_basis += row.cost_basis_usd
        self.acquired.add(acquired)


DUST_NOTE = ("{n} sub-cent dust slice(s) (a lot remainder below one cent of proceeds and basis) are merged into "
             "their sell's line; every lot stays exact in the ledger, and a line's acquired date reads VARIOUS when "
             "a merged slice came from another lot.")


def is_dust_slice(row: AllocationRow) -> bool:
    """A slice whose proceeds and basis both round to $0.00: not printed as a line of its own."""
    return cents(row.net_proceeds_usd) == 0 and cents(row.cost_basis_usd) == 0 and cents(row.proceeds_usd) == 0


def _to_line(block: _Block, tz: ZoneInfo, style: ProceedsStyle) -> Form8949Row:
    row = block.first
    only = next(iter(block.acquired)) if len(block.acquired) == 1 else None
    date_acquired = form_date(only) if only is not None else VARIOUS
    basis = cents(block.cost_basis)
    if style is ProceedsStyle.GROSS and block.proceeds != block.net_proceeds:
        proceeds = cents(block.proceeds)
        adjustment = -cents(block.proceeds - block.net_proceeds)
        code = "E"
    else:
        proceeds, adjustment, code = cents(block.net_proceeds), ZERO.quantize(CENT), ""
    return Form8949Row(
        part=Part.LONG if row.holding_term is HoldingTerm.LONG else Part.SHORT,
        description=f"{fmt(block.size)} {row.asset}",
        date_acquired=date_acquired,
        date_sold=form_date(local_date(row.sell_time, tz)),
        proceeds=proceeds,
        cost_basis=basis,
        adjustment_code=code,
        adjustment=adjustment,
        gain_loss=proceeds - basis + adjustment,
        missing_basis=row.missing_basis,
        symbol=row.symbol,
        sell_order_id=row.sell_order_id,
        sell_time=row.sell_time,
    )


def _totals(rows: Sequence[Form8949Row]) -> PartTotals:
    return PartTotals(
        rows=len(rows),
        proceeds=sum((r.proceeds for r in rows), ZERO.quantize(CENT)),
        cost_basis=sum((r.cost_basis for r in rows), ZERO.quantize(CENT)),
        adjustment=sum((r.adjustment for r in rows), ZERO.quantize(CENT)),
        gain_loss=sum((r.gain_loss for r in rows), ZERO.quantize(CENT)),
    )


def notes_for(tz_name: str, style: ProceedsStyle) -> tuple[str, ...]:
    """The header lines every tax report carries (lot method, Coinbase setting, dates, proceeds)."""
    proceeds = (
        "Proceeds (d) are net of sale fees; nothing goes in (f)/(g). If your Form 1099-DA box 1f shows gross "
        "proceeds, run with --gross-proceeds (code E, sale fees as a negative adjustment in (g))."
        if style is ProceedsStyle.NET
        else "Proceeds (d) are gross; sale fees are adjustments with code E in (f) and a negative amount in (g)."
    )
    return (
        f"Lot method: {LOT_METHOD} (first in, first out) per account; purchase fees are included in the cost "
        "basis (e) and sale fees reduce the amount realized.",
        "Coinbase lets you choose HIFO, LIFO or FIFO for its Form 1099-DA (Taxes > Settings) and has used HIFO "
        "by default: set it to FIFO so its cost basis matches this report, or reconcile differing lines on "
        "Form 8949 with code B in (f) and the correction in (g).",
        f"Dates are trade dates in {tz_name}. Part I = short-term (held one year or less), Part II = long-term. "
        "Check box G/H/I (Part I) or J/K/L (Part II) according to your Form 1099-DA.",
        proceeds,
    )


def build_tax_report(
    rows: Iterable[AllocationRow],
    *,
    timezone: str,
    year: int | None = None,
    aggregate: bool = False,
    proceeds_style: ProceedsStyle = ProceedsStyle.NET,
) -> TaxReport:
    """Form 8949 lines for the rows sold in `year` (local sell date; all rows if None).

    With `aggregate`, the rows of one sell order, term and sell date become one line (`VARIOUS`
    acquired when they came from lots bought on different dates).
    """
    tz = ZoneInfo(timezone)
    blocks: dict[tuple[object, ...], _Block] = {}
    first_of_sell: dict[tuple[object, ...], _Block] = {}
    dust: dict[tuple[object, ...], list[tuple[AllocationRow, date | None]]] = {}
    non_usd = 0
    # Stable by sell time: the rows of one sell keep their slice order, equal times their input order.
    for n, row in enumerate(sorted(rows, key=lambda r: r.sell_time)):
        sold = local_date(row.sell_time, tz)
        if year is not None and sold.year != year:
            continue
        if row.quote not in USD_QUOTES:
            non_usd += 1  # §8: digital-asset quote legs need rules not implemented yet
            continue
        acquired = None if row.missing_basis or row.buy_time is None else local_date(row.buy_time, tz)
        sell_key: tuple[object, ...] = (row.sell_order_id, row.holding_term, row.missing_basis, sold)
        if not aggregate and is_dust_slice(row):
            dust.setdefault(sell_key, []).append((row, acquired))
            continue
        key: tuple[object, ...] = sell_key if aggregate else (n,)
        block = blocks.setdefault(key, _Block(first=row))
        block.add(row, acquired)
        first_of_sell.setdefault(sell_key, block)
    merged = 0
    for sell_key, slices in dust.items():
        for row, acquired in slices:
            target = first_of_sell.get(sell_key)
            if target is None:  # a sell made only of dust keeps its own (exact) line
                target = blocks.setdefault(("dust", *sell_key), _Block(first=row))
                first_of_sell[sell_key] = target
            else:
                merged += 1
            target.add(row, acquired)
    lines = [_to_line(b, tz, proceeds_style) for b in blocks.values()]
    short = tuple(r for r in lines if r.part is Part.SHORT)
    long_ = tuple(r for r in lines if r.part is Part.LONG)
    missing = sum(1 for r in lines if r.missing_basis)
    return TaxReport(
        year=year,
        timezone=timezone,
        proceeds_style=proceeds_style,
        aggregated=aggregate,
        short_term=short,
        long_term=long_,
        short_totals=_totals(short),
        long_totals=_totals(long_),
        missing_basis_rows=missing,
        excluded_non_usd_rows=non_usd,
        notes=notes_for(timezone, proceeds_style) + ((DUST_NOTE.format(n=merged),) if merged else ()),
        warnings=_warnings(missing, non_usd),
    )


def _warnings(missing: int, non_usd: int) -> tuple[str, ...]:
    out = []
    if missing:
        out.append(
            f"WARNING: {missing} line(s) have no known cost basis (sold beyond the inventory the daemon knows, "
            "e.g. bought before tracking started or transferred in): a $0 basis is assumed, date acquired is "
            "VARIOUS and the line is marked 'missing basis'. Import opening lots or backfill fills and rebuild "
            "FIFO before filing."
        )
    if non_usd:
        out.append(
            f"WARNING: {non_usd} allocation row(s) of pairs not quoted in USD were left out: their tax treatment "
            "(the quote asset is itself a digital asset) is not implemented."
        )
    return tuple(out)
