"""Reports on a real PostgreSQL: scripted histories written as the daemon writes them (fills,
trade_records, FIFO engine allocations), read back by the report loaders, the CLI and the SQL views."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import load_settings
from reports.daily import pnl_by_day
from reports.performance import build_performance_report
from reports.queries import load_allocation_rows, load_open_lots, load_trade_outcomes, open_positions
from reports.tax import Part, build_tax_report, year_bounds
from tests.integration.reports.scenario import write_all
from tests.unit.reports.session import EXPECTED_OVERALL
from tests.unit.reports.test_performance import THRESHOLDS
from tests.unit.reports.vectors import NY

D = Decimal
ROOT = Path(__file__).resolve().parents[3]
EXACT = D("1E-12")


@pytest.fixture(scope="module")
async def history(db_sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await write_all(db_sessions)
    yield db_sessions


async def fetch(sessions: async_sessionmaker[AsyncSession], sql: str, tz: str | None = None) -> list[Any]:
    async with sessions() as s, s.begin():
        if tz is not None:
            await s.execute(text("SELECT set_config('bottrader.tax_timezone', :tz, true)"), {"tz": tz})
        return list((await s.execute(text(sql))).mappings().all())


def q(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(EXACT)


async def test_tax_report_from_the_database_reproduces_tv2_and_tv1(history: async_sessionmaker[AsyncSession]) -> None:
    start, end = year_bounds(2024, NY)
    async with history() as s:
        rows = await load_allocation_rows(s, start, end)
    report = build_tax_report(rows, timezone=NY, year=2024)
    tv2 = [(r.description, r.date_acquired, r.date_sold, r.proceeds, r.cost_basis, r.gain_loss)
           for r in report.short_term if r.symbol == "ABC-USD"]
    assert tv2 == [
        ("50 ABC", "02/01/2024", "03/01/2024", D("5990.00"), D("2505.00"), D("3485.00")),
        ("40 ABC", "02/01/2024", "05/01/2024", D("3590.00"), D("2004.00"), D("1586.00")),
    ]
    tv1 = [r for r in report.long_term if r.symbol in {"XYZ-USD", "TUV-USD", "QRS-USD"}]
    assert {r.description: (r.date_acquired, r.date_sold, r.proceeds, r.cost_basis, r.gain_loss) for r in tv1} == {
        "200 XYZ": ("08/12/2014", "01/10/2024", D("1840.00"), D("1500.00"), D("340.00")),
        "500 TUV": ("10/01/2015", "01/10/2024", D("5960.00"), D("8000.00"), D("-2040.00")),
        "2000 QRS": ("11/18/2015", "05/27/2024", D("9950.00"), D("5000.00"), D("4950.00")),
    }
    assert sum((r.gain_loss for r in tv1), D(0)) == D("3250.00")
    eth = sorted((r.part, r.date_sold) for r in report.rows if r.symbol == "ETH-USD")
    assert eth == [(Part.SHORT, "03/15/2024"), (Part.SHORT, "03/15/2024"), (Part.LONG, "03/16/2024")]


async def test_report_tax_cli_writes_the_csv(history: async_sessionmaker[AsyncSession], db_url: str,
                                             tmp_path: Path) -> None:
    out = tmp_path / "8949-2024.csv"
    env = {**os.environ, "DATABASE_URL": db_url, "LOG_FORMAT": "json", "TAX_TIMEZONE": NY}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "report", "tax", "--year", "2024", "--csv", str(out), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, stderr.decode()
    summary = stdout.decode()
    assert "Lot method: FIFO" in summary and "Coinbase" in summary and "Part II (long-term)" in summary
    text_ = out.read_text()
    assert text_.startswith("# Lot method: FIFO")
    records = list(csv.DictReader(ln for ln in text_.splitlines() if not ln.startswith("#")))
    abc = [(r["Description"], r["Proceeds"], r["Cost Basis"], r["Gain or Loss"]) for r in records
           if r["Description"].endswith(" ABC")]
    assert abc == [("50 ABC", "5990.00", "2505.00", "3485.00"), ("40 ABC", "3590.00", "2004.00", "1586.00")]
    long_tv1 = [D(r["Gain or Loss"]) for r in records if r["Part"] == "II" and r["Description"].split()[1] in
                {"XYZ", "TUV", "QRS"}]
    assert sum(long_tv1, D(0)) == D("3250.00")


async def test_performance_from_the_database_matches_the_hand_computation(
    history: async_sessionmaker[AsyncSession],
) -> None:
    async with history() as s:
        trades = [t for t in await load_trade_outcomes(s) if t.symbol == "BTC-USD"]
    report = build_performance_report(trades, THRESHOLDS)
    o = report.overall
    for name, expected in EXPECTED_OVERALL.items():
        assert q(getattr(o, name)) == q(expected) if isinstance(expected, Decimal) else getattr(o, name) == expected
    assert report.excluded_missing_basis == 1
    tp = next(g for g in report.by_reason if g.label == "take_profit")
    assert (tp.trades, tp.total_pnl, tp.avg_move_pct, tp.fees_paid) == (2, D("16.5"), D("6.625"), D(3))
    hard = next(g for g in report.by_reason if g.label == "hard_stop")
    assert (hard.avg_move_pct, hard.total_pnl) == (D(-6), D(-7))
    assert report.max_drawdown_usd == D(7)


async def test_report_performance_handler_prints_json(history: async_sessionmaker[AsyncSession], db_url: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    from datetime import date

    from reports.cli import run_performance

    settings = load_settings(database_url=db_url, tax_timezone=NY)
    rc = await run_performance(settings, argparse.Namespace(since=date(2026, 1, 1), json=True))
    assert rc == 0
    out = capsys.readouterr().out
    data = json.loads(out[out.index("{\n"):])  # unconfigured structlog (no main.py here) also prints to stdout
    assert data["overall"]["trades"] == 6 and data["overall"]["total_pnl_usd"] == "8.50"
    assert data["excluded_missing_basis_trades"] == 1
    assert {g["label"] for g in data["by_exit_reason"]} == {"take_profit", "hard_stop", "soft_stop",
                                                            "trailing_stop", "signal"}


# ---- the SQL views return the numbers of the Python reports --------------------------------------

async def test_tax_lots_8949_view_equals_the_python_rows(history: async_sessionmaker[AsyncSession]) -> None:
    async with history() as s:
        rows = await load_allocation_rows(s)
    py = build_tax_report(rows, timezone=NY)
    view = await fetch(history, "SELECT * FROM tax_lots_8949")
    key = lambda r: (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7])  # noqa: E731
    py_lines = sorted(key((r.part.value, r.description, r.date_acquired, r.date_sold, r.proceeds, r.cost_basis,
                           r.gain_loss, r.missing_basis)) for r in py.rows)
    view_lines = sorted(key((v["part"], v["description"], v["date_acquired"], v["date_sold"], v["proceeds"],
                             v["cost_basis"], v["gain_loss"], v["missing_basis"])) for v in view)
    assert view_lines == py_lines
    assert any(v["date_acquired"] == "VARIOUS" and v["missing_basis"] for v in view)

    totals = await fetch(history, "SELECT * FROM tax_8949_totals ORDER BY tax_year, part")
    for t in totals:
        year_report = build_tax_report(rows, timezone=NY, year=t["tax_year"])
        part = year_report.short_totals if t["part"] == "I" else year_report.long_totals
        assert (t["lines"], t["proceeds"], t["cost_basis"], t["gain_loss"]) == (
            part.rows, part.proceeds, part.cost_basis, part.gain_loss)
    tv1_year = {(t["tax_year"], t["part"]): t["gain_loss"] for t in totals}
    assert tv1_year[(2024, "I")] == build_tax_report(rows, timezone=NY, year=2024).short_totals.gain_loss


async def test_views_follow_the_tax_timezone_setting(history: async_sessionmaker[AsyncSession]) -> None:
    sql = "SELECT date_sold FROM tax_lots_8949 WHERE sell_order_id = 'os-late'"
    assert [r["date_sold"] for r in await fetch(history, sql)] == ["03/15/2024"]
    assert [r["date_sold"] for r in await fetch(history, sql, tz="UTC")] == ["03/16/2024"]


async def test_realized_pnl_daily_view_equals_python(history: async_sessionmaker[AsyncSession]) -> None:
    async with history() as s:
        rows = await load_allocation_rows(s)
    py = pnl_by_day(rows, NY)
    view = await fetch(history, "SELECT * FROM realized_pnl_daily ORDER BY day")
    assert [(v["day"], v["sells"], v["pnl_usd"], v["net_proceeds_usd"], v["cost_basis_usd"], v["cumulative_pnl_usd"])
            for v in view] == [(d.day, d.sells, d.pnl_usd, d.net_proceeds_usd, d.cost_basis_usd,
                                d.cumulative_pnl_usd) for d in py]
    tv2_days = {v["day"].isoformat(): v["pnl_usd"] for v in view}
    assert (tv2_days["2024-03-01"], tv2_days["2024-05-01"]) == (D("3485.00"), D("1586.00"))


async def test_exits_by_reason_view_equals_the_performance_report(history: async_sessionmaker[AsyncSession]) -> None:
    async with history() as s:
        trades = await load_trade_outcomes(s)
    py = {g.label: g for g in build_performance_report(trades, THRESHOLDS).by_reason}
    view = {v["exit_reason"]: v for v in await fetch(history, "SELECT * FROM exits_by_reason")}
    assert set(view) == set(py)
    for label, g in py.items():
        v = view[label]
        assert (v["trades"], v["wins"], v["losses"]) == (g.trades, g.wins, g.losses), label
        for col, attr in [("win_rate", "win_rate"), ("avg_win_usd", "avg_win"), ("avg_loss_usd", "avg_loss"),
                          ("reward_risk", "reward_risk"), ("expectancy_usd", "expectancy"),
                          ("total_pnl_usd", "total_pnl"), ("fees_paid_usd", "fees_paid"),
                          ("avg_move_pct", "avg_move_pct"), ("avg_return_pct", "avg_return_pct"),
                          ("avg_slippage_pct", "avg_slippage_pct")]:
            assert q(v[col]) == q(getattr(g, attr)), (label, col)
    assert view["take_profit"]["total_pnl_usd"] == D("16.5")
    # TV-2's sells have no exit reason: they are counted as "unspecified".
    assert view["unspecified"]["trades"] == py["unspecified"].trades


async def test_open_lots_views_equal_python_and_tv2_state(history: async_sessionmaker[AsyncSession]) -> None:
    async with history() as s:
        lots = await load_open_lots(s)
    view = await fetch(history, "SELECT * FROM open_lots ORDER BY symbol, buy_time, buy_trade_id")
    assert [(v["buy_trade_id"], v["remaining_size"], v["remaining_basis_usd"]) for v in view] == [
        (lot.buy_trade_id, lot.remaining_size, lot.remaining_basis_usd) for lot in lots
    ]
    abc = [(lot.buy_trade_id, lot.remaining_size, lot.remaining_basis_usd) for lot in lots if lot.symbol == "ABC-USD"]
    assert abc == [("B1", D(10), D("501.00")), ("B2", D(50), D("6510.00"))]  # TV-2's expected open lots
    positions = {p.symbol: p for p in open_positions(lots)}
    view_pos = {v["symbol"]: v for v in await fetch(history, "SELECT * FROM open_positions")}
    assert set(view_pos) == set(positions)
    for symbol, p in positions.items():
        v = view_pos[symbol]
        assert (v["size"], q(v["entry_price"]), v["cost_basis_usd"]) == (p.size, q(p.entry_price), p.cost_basis_usd)
    assert (positions["ABC-USD"].size, positions["ABC-USD"].cost_basis_usd) == (D(60), D("7011.00"))
