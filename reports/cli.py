"""`python main.py report tax|performance`: read-only reports from the database."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger
from core.settings import Settings
from reports.performance import ExitThresholds, build_performance_report
from reports.performance_output import render_table, report_to_dict
from reports.queries import load_allocation_rows, load_trade_outcomes
from reports.tax import ProceedsStyle, build_tax_report, year_bounds
from reports.tax_output import render_summary, write_csv

log = get_logger(__name__)


def register(sub: Any) -> None:
    report = sub.add_parser("report", help="tax (Form 8949) and performance reports from the database")
    verbs = report.add_subparsers(dest="report", required=True, metavar="REPORT")

    tax = verbs.add_parser(
        "tax", help="Form 8949 rows (FIFO) for one tax year: a summary, and a CSV with --csv",
        description="Form 8949 rows from fifo_allocations for the sales of one tax year (trade dates in "
        "TAX_TIMEZONE). Prints a summary; --csv writes every row for a spreadsheet or tax software.",
    )
    tax.add_argument("--year", type=int, required=True, help="tax year (by local sell date)")
    tax.add_argument("--csv", metavar="FILE", help="write the rows as CSV to FILE ('-' = standard output)")
    tax.add_argument("--aggregate", action="store_true",
                     help="one line per sell order, term and sell date (VARIOUS acquired) instead of per lot")
    tax.add_argument("--gross-proceeds", action="store_true",
                     help="gross proceeds in (d) with code E and the sale fees in (g), as when the 1099-DA "
                     "reports gross proceeds")
    tax.add_argument("--no-notes", action="store_true",
                     help="CSV without the '#' note lines above the header (for strict importers)")
    tax.set_defaults(handler=run_tax)

    perf = verbs.add_parser(
        "performance", help="win rate, expectancy, P&L and fees per exit reason, against the thresholds",
        description="Per exit reason and overall: trades, win rate, average win/loss, reward:risk, "
        "expectancy, total P&L and fees, with the configured thresholds beside the realized moves.",
    )
    perf.add_argument("--since", type=_parse_date, metavar="YYYY-MM-DD",
                      help="only exits on or after this date (start of day in TAX_TIMEZONE)")
    perf.add_argument("--json", action="store_true", help="print JSON (with the equity curve)")
    perf.set_defaults(handler=run_performance)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


@asynccontextmanager
async def _sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    from shared_data import migrate
    from shared_data.db import create_engine, session_factory
    from shared_data.server import database_url

    async with database_url(settings) as url:
        await migrate.ensure_at_head(url)
        engine = create_engine(url, pool_size=1, statement_timeout_ms=settings.db_statement_timeout_ms,
                               connect_timeout_s=settings.db_connect_timeout_s)
        try:
            yield session_factory(engine)
        finally:
            await engine.dispose()


async def run_tax(settings: Settings, args: argparse.Namespace) -> int:
    from shared_data.migrate import SchemaNotAtHead

    start, end = year_bounds(args.year, settings.tax_timezone)
    try:
        async with _sessions(settings) as sessions, sessions() as session:
            rows = await load_allocation_rows(session, start, end)
    except SchemaNotAtHead as exc:
        print(f"bottrader: {exc}", file=sys.stderr)
        return 3
    report = build_tax_report(
        rows, timezone=settings.tax_timezone, year=args.year, aggregate=args.aggregate,
        proceeds_style=ProceedsStyle.GROSS if args.gross_proceeds else ProceedsStyle.NET,
    )
    if args.csv == "-":
        write_csv(report, sys.stdout, notes=not args.no_notes)
        sys.stderr.write(render_summary(report))
        return 0
    if args.csv:
        buffer = io.StringIO(newline="")
        count = write_csv(report, buffer, notes=not args.no_notes)
        path = Path(args.csv)
        await asyncio.to_thread(path.write_text, buffer.getvalue(), encoding="utf-8")
        log.info("tax_csv_written", path=str(path), rows=count, year=args.year)
    sys.stdout.write(render_summary(report))
    if args.csv:
        sys.stdout.write(f"CSV: {count} line(s) written to {args.csv}\n")
    return 0


async def run_performance(settings: Settings, args: argparse.Namespace) -> int:
    from shared_data.migrate import SchemaNotAtHead

    since = (
        datetime.combine(args.since, time(), ZoneInfo(settings.tax_timezone)) if args.since is not None else None
    )
    try:
        async with _sessions(settings) as sessions, sessions() as session:
            trades = await load_trade_outcomes(session, since)
    except SchemaNotAtHead as exc:
        print(f"bottrader: {exc}", file=sys.stderr)
        return 3
    report = build_performance_report(trades, ExitThresholds.from_settings(settings), since=since)
    if args.json:
        sys.stdout.write(json.dumps(report_to_dict(report), indent=2) + "\n")
    else:
        sys.stdout.write(render_table(report))
    return 0
