"""One entry, a known path, a known exit: the replay against numbers worked out by hand.

Scenario (tests/integration/replay/scripted.py): BTC-USD at 100.00 for 70 one-minute candles, then a
red candle O=100.00 H=100.00 L=97.40 C=97.45. Fees: taker 1.2 % (the simulator's Intro 1 tier);
the synthetic book's half-spread is max(tick, 1 bp of the price) = 0.01.

Entry — at 01:10:00, the close of candle 69 (the first usable sighook row, BUY_SCORE_THRESHOLD=-1):
  100 USD, fees included, sized in base units at the increment by the working-order desk (issue #19:
  an exit can then sell exactly what was bought): ask = 100.00 + 0.01 = 100.01
  size = floor(100 / (100.01 × 1.012), 1e-8) = 0.98804348;  cost = 100.01 × 0.98804348 = 98.8142284348
  buy fee = 0.012 × 98.8142284348 = 1.1857707412176   (cost basis 99.9999991760176)
Exit — the drop candle is red, so its path is open 01:10:00 → high 01:10:20 → low 01:10:40 → close 01:10:59.
  At the low, bid = 97.40 − 0.01 = 97.39: P&L = (97.39 − 100.01)/100.01 = −2.6197 % ≤ −2.5 (soft), > −5 (hard)
  → soft_stop, a limit sell at the quote 97.39; target = 100.01 × 0.975 = 97.50975
  size = the whole 0.98804348; proceeds = 97.39 × 0.98804348 = 96.2255545172
  sell fee = 0.012 × 96.2255545172 = 1.1547066542064
  P&L = 96.2255545172 − 1.1547066542064 − 99.9999991760176 = −4.9291513130240 → −4.93 USD
  fees of the trade = 1.1857707412176 + 1.1547066542064 = 2.340477395424 → 2.34 USD
  slippage vs target = (97.39 − 97.50975)/97.50975 = −0.1228 % → −0.12;  move = −2.62 %
Then MAX_CONSECUTIVE_LOSSES=1 trips the losing-streak breaker, so the later buy rows are refused.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import asyncpg

from replay.run import ReplayRequest
from tests.conftest import ROOT
from tests.integration.replay.scripted import QUIET, SETTINGS, START, write_scripted
from tests.integration.replay.support import Runner


async def test_one_entry_known_path_known_exit(run_replay: Runner, tmp_path: Path, pg_server_url: str) -> None:
    data = write_scripted(tmp_path / "scripted.csv")
    outcome = await run_replay(ReplayRequest(data=(str(data),), overrides=SETTINGS))
    report = outcome.report
    assert report["summary"]["entries"] == 1
    assert report["summary"]["trades"] == 1
    [trade] = report["trades"]
    assert trade["exit_reason"] == "soft_stop"
    assert trade["exit_time"] == "2026-01-01T01:10:40.000000Z"
    assert trade["entry_price"] == "100.01"
    assert trade["exit_price"] == "97.39"
    assert trade["target_price"] == "97.50975"
    assert trade["quote_seen"] == "97.39"
    assert trade["pnl_usd"] == "-4.93"
    assert trade["fees_usd"] == "2.34"
    assert trade["move_pct"] == "-2.62"
    assert trade["slippage_vs_target_pct"] == "-0.12"
    assert [b["breaker"] for b in report["summary"]["breakers_tripped"]] == ["losing_streak"]
    assert report["summary"]["entry_signals_skipped"] == {"breaker_tripped": 4}

    # The exact fills as recorded, the way the live daemon records them.
    url = outcome.database_url.replace("***", "")  # test server URLs carry no password
    conn = await asyncpg.connect(url)
    try:
        fills = await conn.fetch("SELECT side, size, price, commission, trade_time FROM fills ORDER BY trade_time")
        pnl = await conn.fetchval("SELECT pnl_usd FROM trade_records WHERE side = 'SELL'")
        view = await conn.fetchrow("SELECT exit_reason, trades, total_pnl_usd FROM exits_by_reason")
    finally:
        await conn.close()
    assert [(f["side"], f["size"], f["price"], f["commission"]) for f in fills] == [
        ("BUY", Decimal("0.98804348"), Decimal("100.01"), Decimal("1.1857707412176")),
        ("SELL", Decimal("0.98804348"), Decimal("97.39"), Decimal("1.1547066542064")),
    ]
    basis_sold = Decimal("98.8142284348") + Decimal("1.1857707412176")  # the whole lot: no dust is left
    expected = Decimal("96.2255545172") - Decimal("1.1547066542064") - basis_sold
    assert pnl == expected
    assert (view["exit_reason"], view["trades"]) == ("soft_stop", 1)  # the SQL views too
    assert round(view["total_pnl_usd"], 2) == Decimal("-4.93")

    # `report performance` reads the replay's database like a live one.
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING"}
    out = await asyncio.to_thread(subprocess.run, [sys.executable, "main.py", "report", "performance"], cwd=ROOT,
                                  env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "soft_stop" in out.stdout and "-4.93" in out.stdout
    tax = await asyncio.to_thread(subprocess.run, [sys.executable, "main.py", "report", "tax", "--year", "2025"],
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert tax.returncode == 0, tax.stderr


async def test_one_minute_detail_decides_the_coarse_candle(run_replay: Runner, tmp_path: Path) -> None:
    """5-minute candles: by the guess the drop candle (05:50) reaches its low at 2/3 of it (05:53:20); its
    minutes put the low in minute 3, whose own path reaches it at 40 s (05:53:40). Same exit, other time."""
    from replay.data import write_csv

    start, quiet = START, QUIET
    coarse = [(start + 300 * i, "100.00", "100.50", "99.50", "100.00", "50") for i in range(quiet)]
    coarse.append((start + 300 * quiet, "100.00", "100.00", "97.40", "97.45", "50"))
    minutes = [(start + 60 * m, "100.00", "100.50", "99.50", "100.00", "10") for m in range(5 * quiet)]
    drop = [("100.00", "100.00", "100.00", "100.00"), ("100.00", "100.00", "100.00", "100.00"),
            ("100.00", "100.00", "100.00", "100.00"), ("100.00", "100.00", "97.40", "97.45"),
            ("97.45", "97.45", "97.45", "97.45")]
    minutes += [(start + 300 * quiet + 60 * k, o, h, lo, c, "10") for k, (o, h, lo, c) in enumerate(drop)]
    write_csv(tmp_path / "BTC-USD.csv", "BTC-USD", coarse)
    write_csv(tmp_path / "detail.csv", "BTC-USD", minutes)
    data = (str(tmp_path / "BTC-USD.csv"),)
    guess = await run_replay(ReplayRequest(data=data, overrides=SETTINGS))
    detailed = await run_replay(ReplayRequest(data=data, detail=(str(tmp_path / "detail.csv"),), overrides=SETTINGS))
    drop_start = 300 * quiet  # seconds after START: 05:50:00
    assert guess.report["intrabar"]["detailed_candles"] == 0
    assert detailed.report["intrabar"]["detailed_candles"] == quiet + 1
    [g] = guess.report["trades"]
    [d] = detailed.report["trades"]
    assert (g["exit_reason"], g["exit_price"]) == (d["exit_reason"], d["exit_price"]) == ("soft_stop", "97.39")
    assert g["exit_time"] == _at(drop_start + 200) and d["exit_time"] == _at(drop_start + 180 + 40)


def _at(offset_s: int) -> str:
    from datetime import UTC, datetime

    from core.clock import format_rfc3339

    return format_rfc3339(datetime.fromtimestamp(START + offset_s, UTC))
