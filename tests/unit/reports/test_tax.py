"""Form 8949 rows from allocation rows: the tax reference's worked examples, the holding-period
boundary, time zones, rounding, missing basis, aggregation and the CSV/summary output."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from decimal import Decimal

from core.enums import HoldingTerm, Side
from fifo_engine.engine import holding_term
from reports.tax import AllocationRow, Form8949Row, Part, ProceedsStyle, build_tax_report, year_bounds
from reports.tax_output import CSV_COLUMNS, render_summary, write_csv
from tests.unit.reports.vectors import (
    NY,
    TV2_ALLOCATIONS,
    TV2_FILLS,
    TV2_SLICES,
    F,
    Slice,
    allocation_row,
    boundary_slices,
    make_slice,
    tv1_allocations,
    utc,
)

D = Decimal


def rows_of(*slices: Slice) -> list[AllocationRow]:
    return [allocation_row(s) for s in slices]


def line(r: Form8949Row) -> tuple[object, ...]:
    return (r.part, r.description, r.date_acquired, r.date_sold, r.proceeds, r.cost_basis, r.adjustment_code,
            r.adjustment, r.gain_loss)


TV2_EXPECTED = [
    (Part.SHORT, "50 ABC", "02/01/2024", "03/01/2024", D("5990.00"), D("2505.00"), "", D("0.00"), D("3485.00")),
    (Part.SHORT, "40 ABC", "02/01/2024", "05/01/2024", D("3590.00"), D("2004.00"), "", D("0.00"), D("1586.00")),
]


def test_tv2_reference_allocations_give_the_expected_8949_rows() -> None:
    report = build_tax_report(TV2_ALLOCATIONS, timezone=NY, year=2024)
    assert [line(r) for r in report.short_term] == TV2_EXPECTED
    assert report.long_term == ()
    assert report.short_totals.proceeds == D("9580.00")
    assert report.short_totals.cost_basis == D("4509.00")
    assert report.short_totals.gain_loss == D("5071.00")
    assert report.total_gain_loss == D("5071.00")
    assert report.missing_basis_rows == 0 and report.warnings == ()


def test_tv2_slices_by_the_row_arithmetic_give_the_same_rows() -> None:
    rows = rows_of(*TV2_SLICES)
    assert [(r.cost_basis_usd, r.net_proceeds_usd, r.pnl_usd) for r in rows] == [
        (D("2505.00"), D("5990.00"), D("3485.00")), (D("2004.00"), D("3590.00"), D("1586.00"))
    ]
    report = build_tax_report(rows, timezone=NY, year=2024)
    assert [line(r) for r in report.rows] == TV2_EXPECTED
    assert report.total_gain_loss == D("5071.00")


def test_tv2_fills_through_the_fifo_engine_give_the_same_rows() -> None:
    from fifo_engine.engine import allocate_all
    from fifo_engine.model import EngineConfig, FillFact

    facts = [FillFact(f.trade_id, f.order_id, f.symbol, f.side, f.price, f.size, f.commission, f.trade_time)
             for f in TV2_FILLS]
    rows = [AllocationRow(a.symbol, a.sell_order_id, a.buy_order_id, a.allocated_size, a.cost_basis_usd,
                          a.proceeds_usd, a.net_proceeds_usd, a.pnl_usd, a.buy_time, a.sell_time, a.holding_term,
                          a.missing_basis) for a in allocate_all(facts, EngineConfig(tax_timezone=NY))]
    assert [line(r) for r in build_tax_report(rows, timezone=NY, year=2024).rows] == TV2_EXPECTED


def test_tv1_three_long_term_rows_net_and_gross_presentations() -> None:
    rows = tv1_allocations()
    assert {r.holding_term for r in rows} == {HoldingTerm.LONG}  # computed by fifo_engine.engine.holding_term
    net = build_tax_report(rows, timezone=NY, year=2024)
    assert net.short_term == ()
    assert [line(r) for r in net.long_term] == [
        (Part.LONG, "200 XYZ", "08/12/2014", "01/10/2024", D("1840.00"), D("1500.00"), "", D("0.00"), D("340.00")),
        (Part.LONG, "500 TUV", "10/01/2015", "01/10/2024", D("5960.00"), D("8000.00"), "", D("0.00"), D("-2040.00")),
        (Part.LONG, "2000 QRS", "11/18/2015", "05/27/2024", D("9950.00"), D("5000.00"), "", D("0.00"), D("4950.00")),
    ]
    assert net.long_totals.gain_loss == D("3250.00")

    # The reference shows XYZ and TUV as the 1099-B did (gross, code E, fee in (g)), QRS as net.
    gross = build_tax_report(rows, timezone=NY, year=2024, proceeds_style=ProceedsStyle.GROSS)
    xyz, tuv, _qrs = (line(r) for r in gross.long_term)
    assert xyz == (Part.LONG, "200 XYZ", "08/12/2014", "01/10/2024", D("1875.00"), D("1500.00"), "E", D("-35.00"),
                   D("340.00"))
    assert tuv == (Part.LONG, "500 TUV", "10/01/2015", "01/10/2024", D("6000.00"), D("8000.00"), "E", D("-40.00"),
                   D("-2040.00"))
    assert line(net.long_term[2]) == (Part.LONG, "2000 QRS", "11/18/2015", "05/27/2024", D("9950.00"), D("5000.00"),
                                      "", D("0.00"), D("4950.00"))
    assert [r.gain_loss for r in gross.long_term] == [r.gain_loss for r in net.long_term]
    assert gross.long_totals.gain_loss == D("3250.00")


def test_holding_period_split_at_the_one_year_boundary() -> None:
    # Terms come from the FIFO engine's rule (fifo_engine.engine.holding_term, calendar dates in New York).
    rows = rows_of(*boundary_slices())
    terms = {(r.sell_order_id, r.buy_order_id): r.holding_term for r in rows}
    assert terms == {
        ("os-anniv", "ob-mar"): HoldingTerm.SHORT,
        ("os-late", "ob-mar"): HoldingTerm.SHORT,
        ("os-next", "ob-mar"): HoldingTerm.LONG,
        ("os-leap-anniv", "ob-leap"): HoldingTerm.SHORT,
        ("os-leap-next", "ob-leap"): HoldingTerm.LONG,
    }
    y2024 = build_tax_report(rows, timezone=NY, year=2024)
    assert [(r.date_acquired, r.date_sold) for r in y2024.short_term] == [
        ("03/15/2023", "03/15/2024"), ("03/15/2023", "03/15/2024")
    ]
    assert [(r.date_acquired, r.date_sold) for r in y2024.long_term] == [("03/15/2023", "03/16/2024")]
    y2025 = build_tax_report(rows, timezone=NY, year=2025)
    assert [(r.date_acquired, r.date_sold) for r in y2025.short_term] == [("02/29/2024", "02/28/2025")]
    assert [(r.date_acquired, r.date_sold) for r in y2025.long_term] == [("02/29/2024", "03/01/2025")]
    assert holding_term(utc(2024, 2, 29), utc(2025, 2, 28), NY, True) is HoldingTerm.SHORT


def test_year_is_the_local_sell_date() -> None:
    row = replace(TV2_ALLOCATIONS[0], sell_time=utc(2025, 1, 1, 2, 0))  # 21:00 on 31 Dec 2024 in New York
    assert [r.date_sold for r in build_tax_report([row], timezone=NY, year=2024).rows] == ["12/31/2024"]
    assert build_tax_report([row], timezone=NY, year=2025).rows == ()
    assert [r.date_sold for r in build_tax_report([row], timezone="UTC", year=2025).rows] == ["01/01/2025"]
    start, end = year_bounds(2024, NY)
    assert start.isoformat() == "2024-01-01T00:00:00-05:00" and end.isoformat() == "2025-01-01T00:00:00-05:00"


def test_missing_basis_rows_are_flagged_various_and_counted() -> None:
    buy = F("b", "ob", "SOL-USD", Side.BUY, D("100"), D("1"), D("1"), utc(2024, 6, 1))
    sell = F("s", "os", "SOL-USD", Side.SELL, D("110"), D("3"), D("3"), utc(2024, 6, 2))
    rows = rows_of(make_slice(sell, buy, D(1), 0), make_slice(sell, None, D(2), 1))
    report = build_tax_report(rows, timezone=NY, year=2024)
    assert [(r.description, r.date_acquired, r.cost_basis, r.missing_basis) for r in report.rows] == [
        ("1 SOL", "06/01/2024", D("101.00"), False),
        ("2 SOL", "VARIOUS", D("0.00"), True),
    ]
    assert report.missing_basis_rows == 1
    assert len(report.warnings) == 1 and "1 line(s) have no known cost basis" in report.warnings[0]
    assert report.short_totals.gain_loss == sum((r.gain_loss for r in report.rows), D(0))


def test_aggregation_per_sell_order_and_term() -> None:
    buys = [
        F("b1", "ob1", "BTC-USD", Side.BUY, D("100"), D("1"), D("0"), utc(2023, 1, 10)),
        F("b2", "ob2", "BTC-USD", Side.BUY, D("110"), D("1"), D("0"), utc(2024, 1, 20)),
        F("b3", "ob3", "BTC-USD", Side.BUY, D("120"), D("1"), D("0"), utc(2024, 1, 25)),
    ]
    sell = F("s1", "os1", "BTC-USD", Side.SELL, D("150"), D("3"), D("3"), utc(2024, 6, 1))
    rows = rows_of(*(make_slice(sell, b, D(1), i) for i, b in enumerate(buys)))
    report = build_tax_report(rows, timezone=NY, year=2024, aggregate=True)
    assert [line(r) for r in report.long_term] == [
        (Part.LONG, "1 BTC", "01/10/2023", "06/01/2024", D("149.00"), D("100.00"), "", D("0.00"), D("49.00")),
    ]
    assert [line(r) for r in report.short_term] == [
        (Part.SHORT, "2 BTC", "VARIOUS", "06/01/2024", D("298.00"), D("230.00"), "", D("0.00"), D("68.00")),
    ]


def test_rounding_to_cents_happens_only_in_the_output() -> None:
    # A fee of 10 over 3 units: stored rows keep the non-terminating per-unit value; the form shows cents.
    buy = F("b", "ob", "BTC-USD", Side.BUY, D("33.333"), D("3"), D("10"), utc(2024, 7, 1))
    sell = F("s", "os", "BTC-USD", Side.SELL, D("40.005"), D("1"), D("0.005"), utc(2024, 7, 2))
    rows = rows_of(make_slice(sell, buy, D(1)))
    assert rows[0].cost_basis_usd != rows[0].cost_basis_usd.quantize(D("0.01"))  # stored exactly, not in cents
    (r,) = build_tax_report(rows, timezone=NY).rows
    assert (r.proceeds, r.cost_basis, r.gain_loss) == (D("40.00"), D("36.67"), D("3.33"))
    assert r.gain_loss == r.proceeds - r.cost_basis + r.adjustment


def test_pairs_not_quoted_in_usd_are_left_out_with_a_warning() -> None:
    row = replace(TV2_ALLOCATIONS[0], symbol="ETH-BTC")
    report = build_tax_report([row, TV2_ALLOCATIONS[1]], timezone=NY, year=2024)
    assert len(report.rows) == 1 and report.excluded_non_usd_rows == 1
    assert any("not quoted in USD" in w for w in report.warnings)


def test_csv_has_the_fifo_notes_and_one_line_per_row() -> None:
    report = build_tax_report([*TV2_ALLOCATIONS, *tv1_allocations()], timezone=NY, year=2024)
    out = io.StringIO()
    assert write_csv(report, out) == 5
    text = out.getvalue()
    notes = [ln for ln in text.splitlines() if ln.startswith("#")]
    assert "Lot method: FIFO" in notes[0]
    assert any("Coinbase" in n and "FIFO" in n and "HIFO" in n for n in notes)
    records = list(csv.reader(ln for ln in text.splitlines() if not ln.startswith("#")))
    assert tuple(records[0]) == CSV_COLUMNS
    assert records[1][:9] == ["I", "50 ABC", "02/01/2024", "03/01/2024", "5990.00", "2505.00", "", "", "3485.00"]
    assert [r[0] for r in records[1:]] == ["I", "I", "II", "II", "II"]
    plain = io.StringIO()
    write_csv(report, plain, notes=False)
    assert plain.getvalue().splitlines()[0] == ",".join(CSV_COLUMNS)


def test_summary_shows_method_totals_and_warnings() -> None:
    rows = [*TV2_ALLOCATIONS, replace(TV2_ALLOCATIONS[1], sell_order_id="os3", buy_order_id=None, buy_time=None,
                                      cost_basis_usd=D(0), pnl_usd=D("3590.00"), missing_basis=True)]
    text = render_summary(build_tax_report(rows, timezone=NY, year=2024))
    assert "Lot method: FIFO" in text and "Coinbase" in text
    assert "Part I  (short-term)" in text and "8661.00" in text  # 3485 + 1586 + 3590 (the $0-basis line)
    assert "WARNING: 1 line(s) have no known cost basis" in text


def test_sub_cent_dust_slices_are_merged_into_their_sells_line_and_totals_stay_exact() -> None:
    t_buy1, t_buy2, t_sell = utc(2025, 1, 2, 15), utc(2025, 1, 5, 15), utc(2025, 2, 1, 15)
    dust = AllocationRow("ETH-USD", "S1", "B1", D("0.000000000001"), D("0.000000003"), D("0.000000003"),
                         D("0.000000002"), D("-0.000000001"), t_buy1, t_sell, HoldingTerm.SHORT)
    main = AllocationRow("ETH-USD", "S1", "B2", D("1.5"), D("150.90"), D("160.00"), D("159.04"), D("8.14"),
                         t_buy2, t_sell, HoldingTerm.SHORT)
    other = AllocationRow("ETH-USD", "S2", "B2", D("0.5"), D("50.30"), D("49.00"), D("48.71"), D("-1.59"),
                          t_buy2, t_sell, HoldingTerm.SHORT)
    report = build_tax_report([dust, main, other], timezone=NY)
    assert len(report.short_term) == 2  # not three: the dust slice is not a $0.00 line of its own
    s1 = next(r for r in report.short_term if r.sell_order_id == "S1")
    # Merged into S1's line: size exact, acquired VARIOUS (the dust came from another lot), cents unchanged.
    assert s1.description == "1.500000000001 ETH" and s1.date_acquired == "VARIOUS"
    assert (s1.proceeds, s1.cost_basis, s1.gain_loss) == (D("159.04"), D("150.90"), D("8.14"))
    assert any("dust slice" in n for n in report.notes)
    # Without dust nothing changes, and no note is added.
    plain = build_tax_report([main, other], timezone=NY)
    assert not any("dust slice" in n for n in plain.notes)
