"""Freqtrade's backtester on the replay bench's own candles, on this machine, in this run. Prints JSON.

    .venv/bin/python bench/freqtrade_reference.py [--venv DIR] [--runs 3] [--candles 20000]
        [--products-many 20] [--products-more 40] [--candles-many 3000]
    .venv/bin/python bench/replay_throughput.py --freqtrade     # the same, beside the replay's figures

Why: the issue's Freqtrade figures were measured on another day, and this VM's speed varies 1.6–2.5×
between sessions, so only a figure measured in the same run, on the same candles, compares.

Freqtrade is never a project dependency. It lives in its own virtualenv, by default
~/.cache/bottrader-bench/freqtrade-2026.9 (`--venv`); when that has no freqtrade 2026.9 the script
makes it with a Python 3.12 (found as scripts/bootstrap.sh finds one, or `--python`) and
`pip install freqtrade==2026.9` (about a minute; progress on stderr). Only PyPI is reached, once.

Candles: exactly the replay bench's (`scenario_rows` in bench/replay_throughput.py: the seeded sample
generator, product k from DEFAULT_SEED + k at 100 + 10·k USD): 1 pair × 20,000 1-minute candles,
20 pairs × 3,000 and 40 pairs × 3,000, pairs named P00/USD, P01/USD, … Written as Freqtrade JSON
(the decimal text as written by the generator), parsed with Python's json and stored by Freqtrade's
own feather handler (its default format), then read back as backtesting reads it: every value must
equal (checked). Not through Freqtrade's JSON handler: its reader rounds some values one ulp off.

Strategy: bench/freqtrade_ref/ema_rsi_cross.py (EMA 20/50 crossover with an RSI filter, long only,
2 % stoploss, minimal ROI 2 % → 1 % after 30 min → 0 after 60), stake 100 USD per trade, one open
trade per pair at most, fee 0.1 %. Its speed depends mostly on how often it trades: on these candles
it makes 93 trades on 1 pair × 20,000, 311 on 20 × 3,000, 601 on 40 × 3,000 (the replay: 33 and
129); an EMA 9/21 variant (982 trades on 20 pairs) ran the 20-pair loop at ~13,700 candle-steps/s
where this one ran ~42,000, the same hour.

Offline: Freqtrade normally downloads the exchange's markets through ccxt. Here the runner
(bench/freqtrade_ref/runner.py, run by the Freqtrade venv's python) replaces that one download
(`Exchange._api_reload_markets`) by synthetic spot markets for the pairs, exchange class `binance`,
and blocks DNS, socket connects and ccxt's HTTP fetch: any attempt is recorded and fails the bench.
The backtest loop itself is Freqtrade's, untouched.

Timed, per run (a fresh `freqtrade backtesting` process each; medians over `--runs`):
- `loop`: `Backtesting.backtest()` minus its `_get_ohlcv_as_lists()`, i.e. Freqtrade's time/pair loop
  (entries, exits, stoploss/ROI checks, wallet, the open trades left at the end, the trades frame);
  data loading, indicators (`advise_all_indicators`) and entry/exit signals are outside it;
- `backtest_call`: the whole `Backtesting.backtest()`, entry/exit signals and list conversion included;
- `main`: Freqtrade's `main()` call inside that process: configuration, exchange, strategy, data
  load, indicators, backtest, result tables (its own imports of those included), i.e. the command
  without the interpreter's start and the few seconds of top-level imports (ccxt, freqtrade.main);
- `whole_command`: the `freqtrade backtesting` process from start to exit, all of the above.
candle-steps = the rows the loop walks (pairs × candles, less the strategy's 100 startup candles and
one more per pair, which Freqtrade trims); candle-steps/s = candle-steps / seconds. `..._per_cpu_s`
divides by the process's CPU time over the loop instead.

Takes about 1.5–2.5 minutes with the defaults (3 runs × 3 scenarios; most of it Freqtrade's start-up),
plus about a minute the first time, for the virtualenv.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.replay_throughput import scenario_rows

FREQTRADE_VERSION = "2026.9"
DEFAULT_VENV = Path.home() / ".cache" / "bottrader-bench" / f"freqtrade-{FREQTRADE_VERSION}"
HERE = Path(__file__).resolve().parent / "freqtrade_ref"
RUNNER = HERE / "runner.py"
STRATEGY = HERE / "ema_rsi_cross.py"
STRATEGY_CLASS = "EmaRsiCross"
STAKE_USD = 100
# Bounds on the child processes (a pip install or a backtest that hangs must not hang the bench).
PIP_TIMEOUT_S = 900
RUN_TIMEOUT_S = 900


def pair_name(k: int) -> str:
    return f"P{k:02d}/USD"


def write_freqtrade_json(path: Path, rows: Iterable[tuple[int, str, str, str, str, str]]) -> None:
    """Freqtrade's JSON candle file: `[[ms, open, high, low, close, volume], …]`, the numbers as written."""
    body = ",".join(f"[{start * 1000},{o},{h},{lo},{c},{v}]" for start, o, h, lo, c, v in rows)
    path.write_text(f"[{body}]", encoding="utf-8")


def write_scenario(datadir: Path, pairs: int, candles: int) -> list[str]:
    datadir.mkdir(parents=True, exist_ok=True)
    names = []
    for k in range(pairs):
        name = pair_name(k)
        write_freqtrade_json(datadir / f"{name.replace('/', '_')}-1m.json", scenario_rows(k, candles))
        names.append(name)
    return names


def _python_version(cmd: str, env: dict[str, str] | None = None) -> tuple[int, int] | None:
    try:
        out = subprocess.run([cmd, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True,
                             text=True, timeout=30, env=env, check=True).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return (int(out[0]), int(out[1])) if len(out) == 2 else None


def find_python312() -> str:
    """A Python 3.12 interpreter, looked for as scripts/bootstrap.sh does (PATH, then pyenv's versions)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    env = dict(os.environ)
    versions = sorted(p.name for p in (pyenv / "versions").glob("3.12.*")) if (pyenv / "versions").is_dir() else []
    if versions and "PYENV_VERSION" not in env:
        env["PYENV_VERSION"] = versions[0]  # a pyenv shim needs the version selected explicitly
    on_path = shutil.which("python3.12")
    if on_path and _python_version(on_path, env) == (3, 12):
        return str(Path(subprocess.run([on_path, "-c", "import sys; print(sys.executable)"], env=env,
                                       capture_output=True, text=True, check=True, timeout=30).stdout.strip()))
    for cand in sorted(glob.glob(str(pyenv / "versions" / "3.12*" / "bin" / "python3"))):
        if _python_version(cand) == (3, 12):
            return cand
    raise SystemExit("freqtrade_reference: no Python 3.12 found (give one with --python)")


def _installed_version(python: Path) -> str | None:
    if not python.is_file():
        return None
    done = subprocess.run([str(python), "-c", "import freqtrade; print(freqtrade.__version__)"],
                          capture_output=True, text=True, timeout=120)
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_venv(venv: Path, python: str | None) -> Path:
    """The venv's python, with freqtrade FREQTRADE_VERSION installed (made and installed when missing)."""
    py = venv / "bin" / "python"
    if _installed_version(py) == FREQTRADE_VERSION:
        return py
    if not py.is_file():
        base = python or find_python312()
        print(f"[freqtrade_reference] creating {venv} with {base}", file=sys.stderr, flush=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([base, "-m", "venv", str(venv)], check=True, stdout=sys.stderr, timeout=300)
    print(f"[freqtrade_reference] pip install freqtrade=={FREQTRADE_VERSION} into {venv} (about a minute)",
          file=sys.stderr, flush=True)
    subprocess.run([str(py), "-m", "pip", "install", "--upgrade", "pip"], check=True, stdout=sys.stderr,
                   timeout=PIP_TIMEOUT_S)
    subprocess.run([str(py), "-m", "pip", "install", f"freqtrade=={FREQTRADE_VERSION}"], check=True,
                   stdout=sys.stderr, timeout=PIP_TIMEOUT_S)
    got = _installed_version(py)
    if got != FREQTRADE_VERSION:
        raise SystemExit(f"freqtrade_reference: {venv} has freqtrade {got}, wanted {FREQTRADE_VERSION}")
    return py


def _config(userdir: Path, pairs: list[str]) -> dict[str, Any]:
    return {
        "strategy": STRATEGY_CLASS, "strategy_path": str(userdir / "strategies"), "user_data_dir": str(userdir),
        "dataformat_ohlcv": "feather", "timeframe": "1m", "trading_mode": "spot",
        "dry_run": True, "dry_run_wallet": STAKE_USD * len(pairs) * 2, "stake_currency": "USD",
        "stake_amount": STAKE_USD, "max_open_trades": len(pairs), "fee": 0.001,
        "exchange": {"name": "binance", "key": "", "secret": "", "pair_whitelist": pairs, "pair_blacklist": []},
        "pairlists": [{"method": "StaticPairList"}],
        "entry_pricing": {"price_side": "same", "use_order_book": False, "price_last_balance": 0.0},
        "exit_pricing": {"price_side": "same", "use_order_book": False},
        "internals": {"process_throttle_secs": 5},
    }


def _run(python: Path, args: list[str], out: Path, log: Path) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    with log.open("w") as fh:
        try:
            done = subprocess.run([str(python), str(RUNNER), *args, "--out", str(out)], stdout=fh, stderr=fh,
                                  timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise SystemExit(f"freqtrade_reference: {args[0]} took over {RUN_TIMEOUT_S} s (log: {log})") from None
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"freqtrade_reference: {' '.join(args[:1])} failed ({done.returncode}):\n{tail}")
    return json.loads(out.read_text()), seconds


def scenario(python: Path, root: Path, name: str, pairs: int, candles: int, runs: int) -> dict[str, Any]:
    userdir = root / name
    datadir = userdir / "data" / "binance"  # Freqtrade's default place for the exchange's candles
    (userdir / "strategies").mkdir(parents=True)
    shutil.copy(STRATEGY, userdir / "strategies" / STRATEGY.name)
    names = write_scenario(datadir, pairs, candles)
    prepared, _ = _run(python, ["prepare", "--datadir", str(datadir), "--pairs", ",".join(names)],
                       userdir / "prepare.json", userdir / "prepare.log")
    config = userdir / "config.json"
    config.write_text(json.dumps(_config(userdir, names), indent=1))
    results = []
    for n in range(runs):
        result, whole = _run(python, ["backtest", "--config", str(config)], userdir / f"run{n}.json",
                             userdir / f"run{n}.log")
        if result["network_attempts"]:
            raise SystemExit(f"freqtrade_reference: Freqtrade tried the network: {result['network_attempts']}")
        results.append({**result, "whole_s": whole})
        print(f"[freqtrade_reference] {name}: run {n + 1}/{runs}: loop {result['loop_s']:.2f} s, "
              f"command {whole:.2f} s", file=sys.stderr, flush=True)
    steps = {r["candle_steps"] for r in results}
    trades = {r["trades"] for r in results}
    if len(steps) != 1 or len(trades) != 1:
        raise SystemExit(f"freqtrade_reference: runs differ (candle steps {steps}, trades {trades})")
    step = steps.pop()

    def median(key: str) -> float:
        return statistics.median(r[key] for r in results)

    return {
        "pairs": pairs, "candles_per_pair": candles, "candles": pairs * candles, "candle_steps": step,
        "trades": trades.pop(), "candles_checked_equal": prepared["candles_checked"],
        "loop_candle_steps_per_s": round(step / median("loop_s")),
        "loop_candle_steps_per_cpu_s": round(step / median("loop_cpu_s")),
        "backtest_call_candle_steps_per_s": round(step / median("backtest_s")),
        "main_candle_steps_per_s": round(step / median("main_s")),
        "whole_command_candle_steps_per_s": round(step / median("whole_s")),
        "median_s": {k: round(median(k), 3) for k in ("loop_s", "signals_s", "backtest_s", "main_s", "whole_s")},
        "runs_s": {k: [round(r[k], 3) for r in results] for k in ("loop_s", "whole_s")},
        "versions": {k: results[0][k] for k in ("freqtrade", "ccxt", "python")},
    }


def measure(*, venv: Path = DEFAULT_VENV, python: str | None = None, runs: int = 3, candles: int = 20_000,
            products_many: int = 20, products_more: int = 40, candles_many: int = 3_000) -> dict[str, Any]:
    started = time.perf_counter()
    py = ensure_venv(venv, python)
    setup_s = time.perf_counter() - started
    out: dict[str, Any] = {"benchmark": "freqtrade_reference", "venv": str(venv), "versions": {}}
    with tempfile.TemporaryDirectory(prefix="bench-freqtrade-") as tmp:
        for key, pairs, n in (("one_pair", 1, candles), ("many_pairs", products_many, candles_many),
                              ("more_pairs", products_more, candles_many)):
            if pairs > 0:
                out[key] = scenario(py, Path(tmp), key, pairs, n, runs)
    versions = [out[k].pop("versions") for k in ("one_pair", "many_pairs", "more_pairs") if k in out]
    out["versions"] = versions[0]
    out.update({
        "runs": runs, "exchange": "binance class, synthetic spot markets (offline), fee 0.1 %",
        "strategy": f"{STRATEGY_CLASS}: EMA 20/50 cross + RSI 14 filter, long only, stoploss 2 %, "
                    "minimal ROI 2 %/1 % after 30 min/0 after 60, 100 USD a trade",
        "timed": {"loop": "Backtesting.backtest() minus its _get_ohlcv_as_lists() (signals, list conversion)",
                  "backtest_call": "Backtesting.backtest() whole",
                  "main": "freqtrade.main.main(['backtesting', …]) in the process (no interpreter start)",
                  "whole_command": "the freqtrade backtesting process, start to exit"},
        "network_attempts": 0, "setup_s": round(setup_s, 1), "seconds": round(time.perf_counter() - started, 1),
    })
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="Freqtrade's virtualenv (made if missing)")
    parser.add_argument("--python", help="the Python 3.12 to make the virtualenv with (default: looked for)")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (median reported)")
    parser.add_argument("--candles", type=int, default=20_000, help="candles of the one-pair run")
    parser.add_argument("--products-many", type=int, default=20)
    parser.add_argument("--products-more", type=int, default=40, help="pairs of the third run (0: skip it)")
    parser.add_argument("--candles-many", type=int, default=3_000, help="candles per pair of the many-pair runs")
    args = parser.parse_args(argv)
    result = measure(venv=args.venv, python=args.python, runs=args.runs, candles=args.candles,
                     products_many=args.products_many, products_more=args.products_more,
                     candles_many=args.candles_many)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
