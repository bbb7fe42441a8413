"""The bundled sample (generated: 3 products × 20,160 one-minute candles) through the CLI, exiting by
every sentinel reason; the same replay twice writes byte-identical JSON; bad data stops before
anything runs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from replay.run import ReplayRequest
from replay.sample_data import DEFAULT_CANDLES, generate
from shared_data.db import drop_database, with_database
from tests.conftest import ROOT
from tests.integration.replay.support import Runner

RUN_SETTINGS = ["--set", "MAX_CONSECUTIVE_LOSSES=1000", "--set", "DAILY_LOSS_LIMIT_USD=100000"]


def _cli(args: list[str], server: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": server, "LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "main.py", "replay", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
async def test_sample_replay_exits_by_every_reason(tmp_path: Path, pg_server_url: str) -> None:
    files = generate(tmp_path / "sample")
    out = tmp_path / "report"
    result = await asyncio.to_thread(_cli, ["--data", *map(str, files), "--report", str(out), "--ignore-dust",
                                            "--no-progress", *RUN_SETTINGS], pg_server_url)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    try:
        assert report["period"]["candles"] == 3 * DEFAULT_CANDLES
        reasons = {g["label"]: g["trades"] for g in report["performance"]["by_exit_reason"]}
        assert {"hard_stop", "soft_stop", "take_profit", "signal", "trailing_stop"} <= set(reasons), reasons
        assert all(n > 0 for n in reasons.values())
        assert report["summary"]["trades"] == sum(reasons.values())
        page = (out / "report.html").read_text(encoding="utf-8")
        assert page.count("<svg") == 2 and "<script" not in page and "http" not in page.replace(
            'xmlns="http://www.w3.org/2000/svg"', "")
        assert "exits by reason" in result.stdout
        # The database is named in the report and holds what the report says.
        conn = await asyncpg.connect(with_database(pg_server_url, report["database"]))
        try:
            sells = await conn.fetchval("SELECT count(*) FROM trade_records WHERE side = 'SELL' AND status = 'FILLED'")
            reasons_db = {r["exit_reason"]: r["n"] for r in await conn.fetch(
                "SELECT exit_reason, count(*) AS n FROM trade_records WHERE side='SELL' AND status='FILLED' "
                "GROUP BY exit_reason")}
        finally:
            await conn.close()
        assert sells == report["summary"]["trades"]
        assert reasons_db == reasons
    finally:
        await drop_database(pg_server_url, report["database"])


@pytest.mark.slow
async def test_same_replay_twice_is_byte_identical(tmp_path: Path, run_replay: Runner) -> None:
    from replay.render import report_json

    files = generate(tmp_path / "sample", candles=2500)
    request = ReplayRequest(data=tuple(map(str, files)), ignore_dust=True,
                            overrides={"max_consecutive_losses": "1000", "daily_loss_limit_usd": "100000"})
    first = await run_replay(request, database="bt_test_replay_det")
    second = await run_replay(request, database="bt_test_replay_det")
    assert first.report["summary"]["trades"] > 3
    assert report_json(first.report) == report_json(second.report)


def test_bad_data_stops_before_anything_runs(tmp_path: Path, pg_server_url: str) -> None:
    bad = tmp_path / "BTC-USD.csv"
    bad.write_text("start,open,high,low,close,volume\n1767225660,1,2,1,1,1\n1767225600,1,2,1,1,1\n",
                   encoding="utf-8")
    result = _cli(["--data", str(bad), "--report", str(tmp_path / "r"), "--no-progress"], pg_server_url, 120)
    assert result.returncode == 2
    assert "unsorted rows" in result.stderr and "BTC-USD.csv" in result.stderr
    assert not (tmp_path / "r").exists()
    unknown = _cli(["--data", str(bad), "--set", "NO_SUCH_SETTING=1"], pg_server_url, 120)
    assert unknown.returncode == 2 and "NO_SUCH_SETTING" in unknown.stderr


@pytest.mark.slow
async def test_sweep_runs_the_grid_in_workers_and_ranks(tmp_path: Path, pg_server_url: str) -> None:
    files = generate(tmp_path / "sample", candles=1500)
    out = tmp_path / "sweep"
    result = await asyncio.to_thread(_cli, [
        "--data", *map(str, files), "--ignore-dust", "--no-progress", *RUN_SETTINGS,
        "--sweep", "TAKE_PROFIT_PCT=2,6.25", "--sweep", "STOP_LOSS_SOFT_PCT=-1.5",
        "--rank-by", "realized_pnl_usd", "--workers", "2", "--report", str(out)], pg_server_url)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    try:
        runs = sweep["runs"]
        assert [r["rank"] for r in runs] == [1, 2]
        assert sorted(r["settings"]["take_profit_pct"] for r in runs) == ["2", "6.25"]
        values = [Decimal(r["realized_pnl_usd"]) for r in runs]
        assert values == sorted(values, reverse=True)
        assert all(r["by_exit_reason"] for r in runs) and len({r["database"] for r in runs}) == 2
        for r in runs:  # each point's own report, matching the ranking row
            own = json.loads((out / r["database"] / "report.json").read_text(encoding="utf-8"))
            assert own["summary"]["realized_pnl_usd"] == r["realized_pnl_usd"]
            assert own["settings"]["take_profit_pct"] == r["settings"]["take_profit_pct"]
    finally:
        for r in sweep["runs"]:
            await drop_database(pg_server_url, r["database"])
