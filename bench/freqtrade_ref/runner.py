"""Runs inside Freqtrade's own virtualenv (never the project's): driven by bench/freqtrade_reference.py.

    <venv>/bin/python runner.py prepare  --datadir DIR --pairs P00/USD,P01/USD --out RESULT.json
    <venv>/bin/python runner.py backtest --config CONFIG.json --out RESULT.json

`prepare` turns the Freqtrade JSON files the bench wrote (`P00_USD-1m.json`) into Freqtrade's default
format (feather) with Freqtrade's own feather handler, then reads them back the way backtesting does and
checks every value equals the JSON's, with no candle added or dropped. Not timed.

`backtest` runs `freqtrade backtesting` (Freqtrade's own `main`) with three things changed, none of
them in the backtest loop:
- markets: `Exchange._api_reload_markets` (the one place where Freqtrade asks ccxt to download the
  exchange's markets) sets synthetic spot markets for the pairs instead (tick 0.01, amount step 1e-8,
  minimum cost 1 USD, maker/taker fee 0.1 %);
- a network guard: any DNS lookup or socket connect, and any ccxt HTTP request, raises and is
  recorded; the result lists every attempt (it must be empty);
- timers around `Backtesting.backtest()` and its `_get_ohlcv_as_lists()` (the strategy's entry/exit
  signals and the DataFrame → list conversion): the loop is the first minus the second; and one
  around Freqtrade's `main()` (the whole command less the interpreter's start and the imports above).
The guard is on in `prepare` too. Writes RESULT.json: version, timings, candle steps (rows the loop
walks), trades, network attempts.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

ATTEMPTS: list[str] = []


def _guard_network() -> None:
    """No outside host may be called: every way out raises, and is recorded in case something swallows it."""

    def refuse(what: str) -> Any:
        def blocked(*args: Any, **kwargs: Any) -> Any:
            ATTEMPTS.append(f"{what} {args!r}"[:200])
            raise OSError(f"bench network guard: {what} refused (the Freqtrade reference runs offline)")
        return blocked

    socket.getaddrinfo = refuse("getaddrinfo")
    socket.create_connection = refuse("create_connection")
    socket.socket.connect = refuse("socket.connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse("socket.connect_ex")  # type: ignore[method-assign]

    import ccxt
    import ccxt.async_support

    ccxt.Exchange.fetch = refuse("ccxt.fetch")

    async def afetch(*args: Any, **kwargs: Any) -> Any:
        return refuse("ccxt.async.fetch")(*args, **kwargs)

    ccxt.async_support.Exchange.fetch = afetch


def _markets(pairs: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for pair in pairs:
        base, quote = pair.split("/")
        out[pair] = {
            "id": f"{base}{quote}", "symbol": pair, "base": base, "quote": quote, "baseId": base, "quoteId": quote,
            "settle": None, "settleId": None, "type": "spot", "spot": True, "margin": False, "swap": False,
            "future": False, "option": False, "contract": False, "linear": None, "inverse": None,
            "contractSize": None, "active": True, "taker": 0.001, "maker": 0.001, "percentage": True,
            "tierBased": False, "precision": {"amount": 1e-8, "price": 0.01},
            "limits": {"amount": {"min": 1e-8, "max": None}, "price": {"min": 0.01, "max": None},
                       "cost": {"min": 1.0, "max": None}, "leverage": {"min": None, "max": None}},
            "info": {},
        }
    return out


def prepare(datadir: Path, pairs: list[str]) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    from freqtrade.data.history import get_datahandler, load_pair_history
    from freqtrade.enums import CandleType

    as_feather = get_datahandler(datadir, "feather")
    checked = 0
    for pair in pairs:
        source = datadir / f"{pair.replace('/', '_')}-1m.json"
        # Python's json, not Freqtrade's JSON handler: pandas' reader rounds some numbers one ulp off
        # (volume 6.413789 came back 6.4137889999999995).
        raw = np.array(json.loads(source.read_text()), dtype=np.float64)
        frame = pd.DataFrame(raw[:, 1:], columns=["open", "high", "low", "close", "volume"])
        frame.insert(0, "date", pd.to_datetime(raw[:, 0].astype(np.int64), unit="ms", utc=True))
        as_feather.ohlcv_store(pair, "1m", frame, CandleType.SPOT)
        back = load_pair_history(pair, "1m", datadir, data_format="feather")  # as backtesting reads it
        got = np.column_stack([back["date"].dt.as_unit("ms").astype("int64").to_numpy(),
                               back[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)])
        if got.shape != raw.shape or not np.array_equal(got, raw):
            raise SystemExit(f"{pair}: Freqtrade reads back other candles than the bench wrote")
        checked += len(raw)
        source.unlink()  # the backtest reads feather only
    return {"pairs": len(pairs), "candles_checked": checked}


def backtest(config_path: Path) -> dict[str, Any]:
    import freqtrade
    from freqtrade.exchange import Exchange
    from freqtrade.main import main
    from freqtrade.optimize.backtesting import Backtesting

    config = json.loads(config_path.read_text())
    markets = _markets(config["exchange"]["pair_whitelist"])
    timed: dict[str, Any] = {}

    async def offline_markets(self: Any, reload: bool = False) -> None:
        self._api_async.set_markets(markets)

    Exchange._api_reload_markets = offline_markets

    original_backtest = Backtesting.backtest
    original_lists = Backtesting._get_ohlcv_as_lists

    def timed_backtest(self: Any, processed: dict, start_date: Any, end_date: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        out = original_backtest(self, processed, start_date, end_date)
        timed["backtest_s"] = time.perf_counter() - wall
        timed["backtest_cpu_s"] = time.process_time() - cpu
        timed["trades"] = len(out["results"])
        return out

    def timed_lists(self: Any, processed: dict) -> dict:
        wall, cpu = time.perf_counter(), time.process_time()
        data = original_lists(self, processed)
        timed["signals_s"] = time.perf_counter() - wall
        timed["signals_cpu_s"] = time.process_time() - cpu
        timed["candle_steps"] = sum(len(rows) for rows in data.values())
        return data

    Backtesting.backtest = timed_backtest
    Backtesting._get_ohlcv_as_lists = timed_lists

    started = time.perf_counter()
    try:
        main(["backtesting", "--config", str(config_path), "--userdir", config["user_data_dir"],
              "--strategy", config["strategy"],
              "--export", "none", "--cache", "none"])
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    main_s = time.perf_counter() - started
    if "backtest_s" not in timed:
        raise SystemExit("Freqtrade's backtest did not run (see its log)")
    import ccxt

    return {"freqtrade": freqtrade.__version__, "ccxt": ccxt.__version__, "python": sys.version.split()[0],
            "main_s": main_s, "loop_s": timed["backtest_s"] - timed["signals_s"],
            "loop_cpu_s": timed["backtest_cpu_s"] - timed["signals_cpu_s"], **timed,
            "network_attempts": ATTEMPTS}


if __name__ == "__main__":
    command, args = sys.argv[1], dict(zip(sys.argv[2::2], sys.argv[3::2], strict=True))
    _guard_network()
    if command == "prepare":
        result = prepare(Path(args["--datadir"]), args["--pairs"].split(","))
    else:
        result = backtest(Path(args["--config"]))
    Path(args["--out"]).write_text(json.dumps(result))
