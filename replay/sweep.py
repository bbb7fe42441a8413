"""`replay --sweep NAME=v1,v2 …`: the grid of settings, one replay per point in worker processes, ranked.

Every point is a full replay (its own database, named in its report), so each row of the ranking
carries the per-exit-reason table of `report performance`: a user can see which stop and target
settings give the reward:risk they configured. Points run in a process pool (one per core by
default); every point's settings are validated before the first one starts.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.settings import SettingsError
from replay.run import ReplayRequest, parse_overrides, replay_settings

LOWER_IS_BETTER = {"max_drawdown_mark_to_market_usd"}


def parse_grid(items: list[str]) -> list[dict[str, str]]:
    """`["TAKE_PROFIT_PCT=3,5", "STOP_LOSS_SOFT_PCT=-2,-3"]` → every combination, as setting overrides."""
    axes: list[tuple[str, list[str]]] = []
    for item in items:
        name, sep, values = item.partition("=")
        choices = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not choices:
            raise SettingsError(f"--sweep {item!r}: want NAME=v1,v2,…")
        field = next(iter(parse_overrides([f"{name}={choices[0]}"])))
        if any(field == f for f, _ in axes):
            raise SettingsError(f"--sweep names {name} twice")
        axes.append((field, choices))
    return [dict(zip([a for a, _ in axes], combo, strict=True)) for combo in itertools.product(*(c for _, c in axes))]


def metric_of(report: dict[str, Any], name: str) -> Decimal | None:
    overall = report["performance"]["overall"]
    raw = report["summary"].get(name, overall.get(name))
    try:
        return None if raw is None else Decimal(str(raw))
    except InvalidOperation:
        return None


def _run_point(request: ReplayRequest) -> tuple[dict[str, Any], float]:
    """In a worker process: one replay, quietly."""
    from core.logging import configure_logging

    configure_logging("WARNING", "json")
    from replay.run import replay

    outcome = asyncio.run(replay(request))
    return outcome.report, outcome.seconds


async def run_sweep(request: ReplayRequest, grid: list[dict[str, str]], *, rank_by: str, workers: int,
                    report_dir: Path | None, progress: bool) -> int:
    from tqdm import tqdm

    from replay.render import report_json

    points = [replace(request, overrides={**request.overrides, **point}) for point in grid]
    for p in points:
        replay_settings(p.overrides)  # a bad value fails here, before any work
    from replay.run import load_data

    load_data(points[0], replay_settings(points[0].overrides))  # and bad data too
    out_dir = report_dir or Path(replay_settings(request.overrides).replay_report_dir) / "sweep"
    out_dir.mkdir(parents=True, exist_ok=True)
    count = max(1, min(workers or os.cpu_count() or 1, len(points)))
    loop = asyncio.get_running_loop()
    results: list[tuple[dict[str, str], dict[str, Any], float]] = []
    bar = tqdm(total=len(points), unit="run", desc="sweep", file=sys.stderr, disable=not progress)
    # spawn: a forked child would inherit this process's event loop and database connections.
    with ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [loop.run_in_executor(pool, _run_point, p) for p in points]
        for point, future in zip(grid, futures, strict=True):
            report, seconds = await future
            results.append((point, report, seconds))
            bar.update(1)
    bar.close()
    reverse = rank_by not in LOWER_IS_BETTER

    def key(item: tuple[dict[str, str], dict[str, Any], float]) -> tuple[int, Decimal]:
        value = metric_of(item[1], rank_by)
        if value is None:
            return (1, Decimal(0))
        return (0, -value if reverse else value)

    ranked = sorted(results, key=key)
    rows = []
    for rank, (point, report, _seconds) in enumerate(ranked, start=1):
        run_dir = out_dir / report["database"]
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "report.json").write_text(report_json(report), encoding="utf-8")
        value = metric_of(report, rank_by)
        rows.append({"rank": rank, "settings": point, rank_by: None if value is None else str(value),
                     "database": report["database"], "summary": report["summary"],
                     "by_exit_reason": report["performance"]["by_exit_reason"],
                     "overall": report["performance"]["overall"]})
    sweep = {"schema": "bottrader.replay_sweep", "rank_by": rank_by, "workers": count, "runs": rows}
    (out_dir / "sweep.json").write_text(json.dumps(sweep, indent=2) + "\n", encoding="utf-8")
    (out_dir / "sweep.md").write_text(_markdown(sweep), encoding="utf-8")
    print(_table(sweep))
    print(f"sweep: {len(points)} runs in {count} worker process(es); {out_dir / 'sweep.json'}, "
          f"{out_dir / 'sweep.md'}; each run's report.json under {out_dir}/<database>/")
    return 0


def _table(sweep: dict[str, Any]) -> str:
    rank_by = sweep["rank_by"]
    lines = [f"rank  {rank_by:>24}  trades  win rate  reward:risk  P&L USD  settings"]
    for r in sweep["runs"]:
        o = r["overall"]
        settings = " ".join(f"{k.upper()}={v}" for k, v in r["settings"].items())
        lines.append(f"{r['rank']:>4}  {r[rank_by]!s:>24}  {o['trades']:>6}  {o['win_rate']!s:>8}  "
                     f"{o['reward_risk']!s:>11}  {o['total_pnl_usd']!s:>7}  {settings}")
    return "\n".join(lines)


def _markdown(sweep: dict[str, Any]) -> str:
    out = [f"# Replay sweep (ranked by {sweep['rank_by']})", "", "```", _table(sweep), "```", ""]
    for r in sweep["runs"]:
        settings = ", ".join(f"{k.upper()}={v}" for k, v in r["settings"].items())
        out += [f"## #{r['rank']}: {settings}", "", f"database `{r['database']}`", "",
                "| exit reason | trades | win rate | P&L USD | configured | avg move % | avg slippage % "
                "| reward:risk |",
                "|---|---|---|---|---|---|---|---|"]
        for g in r["by_exit_reason"]:
            conf = ", ".join(f"{k} {v}" for k, v in g["configured"].items()) or "—"
            out.append(f"| {g['label']} | {g['trades']} | {g['win_rate']} | {g['total_pnl_usd']} | {conf} | "
                       f"{g['realized']['avg_move_pct']} | {g['realized']['avg_slippage_vs_target_pct']} | "
                       f"{g['reward_risk']} |")
        out.append("")
    return "\n".join(out)
