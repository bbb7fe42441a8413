"""Tax report output: CSV for spreadsheets / tax software, and a terminal summary."""

from __future__ import annotations

import csv
from decimal import Decimal
from typing import TextIO

from reports.tax import Form8949Row, PartTotals, TaxReport

CSV_COLUMNS = (
    "Part",
    "Description",
    "Date Acquired",
    "Date Sold",
    "Proceeds",
    "Cost Basis",
    "Adjustment Code",
    "Adjustment Amount",
    "Gain or Loss",
    "Term",
    "Missing Basis",
    "Sell Order ID",
)


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def csv_row(row: Form8949Row) -> list[str]:
    return [
        row.part.value,
        row.description,
        row.date_acquired,
        row.date_sold,
        money(row.proceeds),
        money(row.cost_basis),
        row.adjustment_code,
        money(row.adjustment) if row.adjustment_code else "",
        money(row.gain_loss),
        "long" if row.part.value == "II" else "short",
        "yes" if row.missing_basis else "",
        row.sell_order_id,
    ]


def write_csv(report: TaxReport, out: TextIO, *, notes: bool = True) -> int:
    """Write one line per Form 8949 row (Part I first); `notes` puts the report's notes and warnings
    on `#` lines above the header (turn off for importers that expect the header first). Returns rows."""
    writer = csv.writer(out, lineterminator="\n")
    if notes:
        for line in (*report.notes, *report.warnings):
            out.write(f"# {line}\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        writer.writerow(csv_row(row))
    return len(report.rows)


def _totals_line(label: str, totals: PartTotals) -> str:
    return (
        f"  {label:<26} {totals.rows:>6}  {money(totals.proceeds):>15}  {money(totals.cost_basis):>15}  "
        f"{money(totals.adjustment):>12}  {money(totals.gain_loss):>15}"
    )


def render_summary(report: TaxReport) -> str:
    """What `report tax` prints: the notes, totals per part, and the warnings."""
    year = str(report.year) if report.year is not None else "all years"
    lines = [f"Form 8949 summary, tax year {year} ({'aggregated per sell order' if report.aggregated else 'per lot'})"]
    lines += [f"  * {note}" for note in report.notes]
    lines.append("")
    lines.append(
        f"  {'':<26} {'lines':>6}  {'proceeds (d)':>15}  {'basis (e)':>15}  {'adjust (g)':>12}  {'gain/loss (h)':>15}"
    )
    lines.append(_totals_line("Part I  (short-term)", report.short_totals))
    lines.append(_totals_line("Part II (long-term)", report.long_totals))
    total = PartTotals(
        rows=report.short_totals.rows + report.long_totals.rows,
        proceeds=report.short_totals.proceeds + report.long_totals.proceeds,
        cost_basis=report.short_totals.cost_basis + report.long_totals.cost_basis,
        adjustment=report.short_totals.adjustment + report.long_totals.adjustment,
        gain_loss=report.total_gain_loss,
    )
    lines.append(_totals_line("Total", total))
    if report.warnings:
        lines.append("")
        lines += report.warnings
    return "\n".join(lines) + "\n"
