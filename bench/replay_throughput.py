"""Replay throughput in candles per second, beside a raw loop over the same candles (the floor). Prints JSON.

    .venv/bin/python bench/replay_throughput.py [--candles 20000] [--products-many 20] [--candles-many 3000]
        [--products-more 40]
        [--freqtrade [--freqtrade-venv DIR] [--freqtrade-runs 3]]

Data: the seeded sample generator (replay/sample_data.py), one file per product, 1-minute candles.
Each replay runs the daemon's own code path end to end (sighook rules → alert path → risk → order
manager → in-process matching engine → fills → FIFO → PostgreSQL; the exit sentinel on every price
point of a held product) with the loss breakers opened up and `--ignore-dust`, so it keeps trading.
Needs DATABASE_URL (or the embedded server).

Scenarios: `one_product` (1 × --candles), `many_products` (--products-many × --candles-many) and
`more_products` (--products-more × --candles-many: 40 products, the pair count of the issue's
Freqtrade figure; `--products-more 0` skips it).

Figures, per scenario:
- `floor_read_candles_per_s`: read and check the files (replay/data.py), i.e. just getting the candles;
- `floor_loop_candles_per_s`: a Python loop that touches every candle's four prices once (no work);
- `replay_loop_candles_per_s`: the replay's time loop only (virtual clock, venue, sentinel, entries, DB);
- `replay_loop_candles_per_cpu_s`: the same per CPU-second of the replay process (PostgreSQL's own
  work and waiting for it excluded): on a shared machine the steadier figure;
- `replay_total_candles_per_s`: the whole command (files, indicators, fresh database + migrations, loop, report),
  after `indicator_warm_up_s`: sighook's indicators run once first, so numba's one-time compilation (cached
  on disk; seconds on a fresh install) is not in the first scenario's figures;
- `replay_command_candles_per_s`: `python main.py replay` over the same files in a process of its own, as a
  user runs it (interpreter start and imports too), median of `--command-runs` (3): beside Freqtrade's
  whole command (`freqtrade_total_candle_steps_per_s`).
`freqtrade_reference` quotes the issue's measurement of Freqtrade 2026.9 (not run here: it is not a
dependency): ~16,700 candle-steps/s for 1 pair and ~41,000 for 40 pairs with a simple strategy.
With `--freqtrade`, Freqtrade 2026.9's backtester also runs in this run on the same candles
(bench/freqtrade_reference.py: its own virtualenv, offline, a simple EMA/RSI strategy), and each
scenario gets `freqtrade_loop_candle_steps_per_s` (its backtest loop), `..._per_cpu_s`,
`freqtrade_main_candle_steps_per_s` (Freqtrade's main() in its process, as the replay's total is
timed in ours) and `freqtrade_total_candle_steps_per_s` (the whole process) beside the replay's;
`freqtrade_reference` then holds that measurement (40 pairs too) and the issue's quote.
`changes` lists what the last speed round (issue #22) changed, with the before/after figures measured
then (alternating runs of both versions on the same loaded machine): a reference, not this run.

Latest figures: see README "Replay" → "Speed, honestly" (before/after, alternating runs). `changes`
lists what the last speed round changed; `bench/statement_paths.py` measures the per-statement paths.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PROCESS_TIMEOUT_S = 900  # one `python main.py replay` of a scenario (about 15 s for 40 × 3,000 here)

FREQTRADE = {"one_pair_candle_steps_per_s": 16_700, "forty_pairs_candle_steps_per_s": 41_000,
             "source": "issue #22 (Freqtrade 2026.9 backtester, simple strategy, this kind of machine)"}
CHANGES = {
    "issue": "#22 replay throughput, 2026-12-07, sixth round (commit a20c0ab → this code)",
    "what": [
        "the command reads and checks the candle files once (it read them again inside replay())",
        "a replay's start-up loads no Coinbase SDK, WebSocket stack, aiohttp or alembic "
        "(import replay.run 1.5 → 1.05 s)",
        "a one-shot verb runs the atexit handlers, flushes stdout/stderr and exits without the interpreter's "
        "module teardown (≈ 0.25 s)",
        "before → after, `main.py replay`, alternating runs, median of three: 1 × 20,000 candles 3.80 → 2.81 s, "
        "40 × 3,000 11.32 → 9.38 s; the replay's loop is unchanged",
    ],
    "see": "README, Replay, 'Speed, honestly' for the same-run comparison with Freqtrade",
}
RUN_SETTINGS = {"max_consecutive_losses": "1000000", "daily_loss_limit_usd": "100000000"}


def scenario_rows(k: int, candles: int) -> list[tuple[int, str, str, str, str, str]]:
    """Product k's candles (also what bench/freqtrade_reference.py gives Freqtrade)."""
    from replay.sample_data import DEFAULT_SEED, product_rows

    return product_rows(DEFAULT_SEED + k, 100.0 + 10 * k, 2, candles)


def _files(out: Path, products: int, candles: int) -> list[Path]:
    from replay.data import write_csv

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(products):
        path = out / f"P{k:02d}-USD.csv"
        write_csv(path, f"P{k:02d}-USD", scenario_rows(k, candles))
        paths.append(path)
    return paths


def _floor(paths: list[Path]) -> tuple[float, float, int]:
    from replay.data import load

    started = time.perf_counter()
    data = load(paths)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    touched = 0
    for s in data.series:
        for o, h, lo, c in s.prices:
            touched += (o is not None) + (h is not None) + (lo is not None) + (c is not None)
    loop_s = time.perf_counter() - started
    return read_s, loop_s, data.candles


def _process(name: str, paths: list[Path], runs: int) -> tuple[float, str]:
    """Median wall seconds of the command a user runs over these files, `python main.py replay …` in a
    process of its own (interpreter start, imports, files, indicators, fresh database, loop, report
    files): what Freqtrade's whole-command figure is beside. Returns it with the run's database."""
    command = [sys.executable, str(ROOT / "main.py"), "replay", "--data", *map(str, paths), "--ignore-dust",
               "--no-progress", *[a for k, v in RUN_SETTINGS.items() for a in ("--set", f"{k.upper()}={v}")]]
    times: list[float] = []
    database = ""
    with tempfile.TemporaryDirectory(prefix="bench-replay-report-") as out:
        for run in range(1, runs + 1):
            started = time.perf_counter()
            done = subprocess.run([*command, "--report", out], cwd=ROOT, capture_output=True, text=True,
                                  timeout=PROCESS_TIMEOUT_S)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise RuntimeError(f"{name}: `main.py replay` exited {done.returncode}: {done.stderr[-2000:]}")
            database = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("database: "))
            print(f"[replay_throughput] {name}: command run {run}/{runs}: {times[-1]:.2f} s", file=sys.stderr)
    return statistics.median(times), database


def _scenario(name: str, paths: list[Path], process_runs: int) -> dict[str, Any]:
    from core.logging import configure_logging
    from replay.run import ReplayRequest, replay

    configure_logging("WARNING", "json")
    read_s, loop_s, candles = _floor(paths)
    outcome = asyncio.run(replay(ReplayRequest(data=tuple(map(str, paths)), overrides=RUN_SETTINGS,
                                               ignore_dust=True), database=f"bench_replay_{name}"))
    asyncio.run(_drop(outcome.settings, outcome.database))
    process_s, database = _process(name, paths, process_runs) if process_runs > 0 else (0.0, "")
    if database:
        asyncio.run(_drop(outcome.settings, database))
    loop = outcome.phases["loop"]
    return {
        "products": len(paths), "candles": candles, "price_points": outcome.stats.events - outcome.stats.cycles,
        "inner_points_skipped": outcome.stats.skipped_points, "trades": outcome.report["summary"]["trades"],
        "exposure_pct": outcome.report["summary"]["exposure_pct"],
        "floor_read_candles_per_s": round(candles / read_s), "floor_loop_candles_per_s": round(candles / loop_s),
        "replay_loop_candles_per_s": round(candles / loop),
        "replay_loop_candles_per_cpu_s": round(candles / outcome.phases["loop_cpu"]), "replay_total_candles_per_s":
            round(candles / outcome.seconds),
        **({"replay_command_candles_per_s": round(candles / process_s)} if process_s > 0 else {}),
        "phases_s": outcome.phases, "database": f"{outcome.database} (dropped)",
    }


def _beside(replay: dict[str, Any], freqtrade: dict[str, Any]) -> dict[str, Any]:
    """The replay's figures with Freqtrade's on the same candles right after them."""
    out: dict[str, Any] = {}
    for key, value in replay.items():
        out[key] = value
        if key == ("replay_command_candles_per_s" if "replay_command_candles_per_s" in replay
                   else "replay_total_candles_per_s"):
            out.update({
                "freqtrade_loop_candle_steps_per_s": freqtrade["loop_candle_steps_per_s"],
                "freqtrade_loop_candle_steps_per_cpu_s": freqtrade["loop_candle_steps_per_cpu_s"],
                "freqtrade_main_candle_steps_per_s": freqtrade["main_candle_steps_per_s"],
                "freqtrade_total_candle_steps_per_s": freqtrade["whole_command_candle_steps_per_s"],
                "freqtrade_trades": freqtrade["trades"],
            })
    return out


async def _drop(settings: Any, name: str) -> None:
    from shared_data.db import drop_database

    if settings.database_url is not None:  # the embedded server keeps it until the next run replaces it
        await drop_database(settings.database_url.get_secret_value(), name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candles", type=int, default=20_000, help="candles of the one-product run")
    parser.add_argument("--products-many", type=int, default=20)
    parser.add_argument("--candles-many", type=int, default=3_000, help="candles per product of the many-product run")
    parser.add_argument("--products-more", type=int, default=40,
                        help="products of a third run with --candles-many each, as many as the pairs of the issue's "
                             "Freqtrade figure (0: skip it)")
    parser.add_argument("--freqtrade", action="store_true",
                        help="also run Freqtrade's backtester on the same candles (bench/freqtrade_reference.py)")
    parser.add_argument("--freqtrade-venv", type=Path, help="Freqtrade's virtualenv (default: made in ~/.cache)")
    parser.add_argument("--freqtrade-runs", type=int, default=3, help="Freqtrade runs per scenario (median)")
    parser.add_argument("--command-runs", type=int, default=3,
                        help="runs of `python main.py replay` per scenario (median; 0: skip)")
    args = parser.parse_args(argv)
    # pandas-ta's numba kernels compile once per install (cached on disk after): the first scenario's
    # `signals` phase would otherwise hold ~7 s of compilation on a fresh machine and none on the next run.
    from sighook.indicators import warm_up

    started = time.perf_counter()
    warm_up()
    warm_up_s = round(time.perf_counter() - started, 3)
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        runs = args.command_runs
        one = _scenario("one", _files(Path(tmp) / "one", 1, args.candles), runs)
        many = _scenario("many", _files(Path(tmp) / "many", args.products_many, args.candles_many), runs)
        more = (_scenario("more", _files(Path(tmp) / "more", args.products_more, args.candles_many), runs)
                if args.products_more > 0 else None)
    reference: dict[str, Any] = FREQTRADE
    if args.freqtrade:
        from bench.freqtrade_reference import DEFAULT_VENV, measure

        measured = measure(venv=args.freqtrade_venv or DEFAULT_VENV, runs=args.freqtrade_runs,
                           candles=args.candles, products_many=args.products_many,
                           products_more=max(args.products_more, 0), candles_many=args.candles_many)
        one, many = _beside(one, measured["one_pair"]), _beside(many, measured["many_pairs"])
        if more is not None:
            more = _beside(more, measured["more_pairs"])
        reference = {"measured_here": measured, "issue_quote": FREQTRADE}
    result: dict[str, Any] = {"benchmark": "replay_throughput", "indicator_warm_up_s": warm_up_s,
                              "one_product": one, "many_products": many}
    if more is not None:
        result["more_products"] = more
    result.update({"freqtrade_reference": reference, "changes": CHANGES})
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
