"""`python main.py replay …`: the daemon's own code over historical candles, in virtual time."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.settings import Settings, SettingsError

DESCRIPTION = """Replay historical candles through the daemon's own code: sighook's indicators and rules,
the alert path and risk checks, the order manager and working-order desk, the exit sentinel and
trailing stops, fills, FIFO and exit reasons — against the simulator's matching engine in-process, on a
virtual clock, recorded in a fresh PostgreSQL database named in the report (so `report performance`,
`report tax`, the views and the dashboard work on it). Entries and exits are placed as configured
(ENTRY_ORDER_TYPE*, EXIT_ORDER_STYLE; default post-only entries, resting exits), the desk polled every
WORKING_POLL_INTERVAL_S of virtual time; resting orders fill only at the candles' four intrabar points.
Writes report.json, report.md and report.html to --report."""


def register(sub: Any) -> None:
    p = sub.add_parser("replay", help="replay historical candles through the daemon (virtual time)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, metavar="FILE",
                   help="candle files: the simulator's CSV (start,open,high,low,close,volume[,product_id]) or "
                   "Freqtrade JSON ([[ms,o,h,l,c,v],…]); any granularity from 1 minute")
    p.add_argument("--product", action="append", default=[], metavar="FILE=PRODUCT",
                   help="the product of a file without a product_id column (e.g. btc.json=BTC-USD)")
    p.add_argument("--detail", nargs="+", default=[], metavar="FILE",
                   help="1-minute candles used as the intrabar path of coarser --data candles")
    p.add_argument("--start", metavar="TIME", help="first candle (YYYY-MM-DD, ISO time or unix seconds)")
    p.add_argument("--end", metavar="TIME", help="stop before this time")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
                   help="a setting for this run (e.g. --set TAKE_PROFIT_PCT=3); repeatable")
    p.add_argument("--sweep", action="append", default=[], metavar="NAME=v1,v2,…",
                   help="run the grid of these settings in worker processes and rank the runs; repeatable")
    p.add_argument("--rank-by", default="realized_pnl_usd",
                   choices=["realized_pnl_usd", "win_rate", "reward_risk", "expectancy_usd", "return_pct",
                            "max_drawdown_mark_to_market_usd"],
                   help="sweep ranking metric (drawdown: smallest first; others: largest first)")
    p.add_argument("--workers", type=int, default=0, help="sweep worker processes (0: one per core)")
    p.add_argument("--ignore-dust", action="store_true",
                   help="treat a symbol holding only unsellable dust as flat for entries (sighook's own rule "
                   "already does, from the product rules the replay records like the daemon; see README)")
    p.add_argument("--report", metavar="DIR", help="report directory (default: REPLAY_REPORT_DIR/<database>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_cli)

    d = sub.add_parser("replay-dashboard", help="serve the dashboard over a replay's database (loopback)",
                       description="The daemon's dashboard (positions, exits by reason, daily P&L, orders, fills, "
                       "breakers) over the database a replay wrote, on the DATABASE_URL server.")
    d.add_argument("database", help="the replay's database name (in its report)")
    d.add_argument("--port", type=int, default=8090)
    d.set_defaults(handler=run_dashboard)


def _request(args: argparse.Namespace) -> Any:
    from replay.data import parse_product_map, parse_time
    from replay.run import ReplayRequest, parse_overrides

    return ReplayRequest(
        data=tuple(args.data), products=parse_product_map(args.product), detail=tuple(args.detail),
        start=parse_time(args.start) if args.start else None, end=parse_time(args.end) if args.end else None,
        overrides=parse_overrides(args.overrides), ignore_dust=args.ignore_dust,
    )


async def run_cli(settings: Settings, args: argparse.Namespace) -> int:
    from core.logging import configure_logging
    from replay.data import DataError

    # The daemon logs every order and fill at INFO: for a replay that is noise on a terminal.
    if settings.log_level in ("DEBUG", "INFO"):
        configure_logging("WARNING", settings.log_format)
    try:
        request = _request(args)
        if args.sweep:
            from replay.sweep import parse_grid, run_sweep

            return await run_sweep(request, parse_grid(args.sweep), rank_by=args.rank_by, workers=args.workers,
                                   report_dir=Path(args.report) if args.report else None,
                                   progress=not args.no_progress)
        return await _single(request, args, settings)
    except (DataError, SettingsError) as exc:
        print(f"bottrader replay: {exc}", file=sys.stderr)
        return 2


async def run_dashboard(settings: Settings, args: argparse.Namespace) -> int:
    from replay.dashboard import serve

    return await serve(settings, args.database, args.port)


async def _single(request: Any, args: argparse.Namespace, settings: Settings) -> int:
    from replay.progress import progress_bar
    from replay.render import write_reports
    from replay.run import load_data, replay, replay_settings

    # Check everything (settings, files) before the database or the progress bar appear.
    run_settings = replay_settings(request.overrides)
    loaded = load_data(request, run_settings)
    with progress_bar(loaded.dataset.candles, enabled=not args.no_progress) as tick:
        outcome = await replay(request, progress=tick, loaded=loaded)
    out_dir = Path(args.report) if args.report else Path(run_settings.replay_report_dir) / outcome.database
    paths = write_reports(outcome, out_dir)
    summary = outcome.report["summary"]
    speed = outcome.dataset.candles / outcome.seconds if outcome.seconds > 0 else 0.0
    print(f"replay: {outcome.dataset.candles} candles of {len(outcome.dataset.series)} product(s) in "
          f"{outcome.seconds:.1f} s ({speed:,.0f} candles/s)")
    print(f"trades {summary['trades']}, win rate {summary['win_rate']}, realized P&L {summary['realized_pnl_usd']} "
          f"USD, fees {summary['fees_usd']} USD, max drawdown (mark to market) "
          f"{summary['max_drawdown_mark_to_market_usd']} USD, exposure {summary['exposure_pct']} %")
    by_reason = ", ".join(f"{g['label']} {g['trades']}" for g in outcome.report["performance"]["by_exit_reason"])
    print(f"exits by reason: {by_reason or 'none'}")
    execution = outcome.report["execution"]
    filled = ", ".join(f"{'entry' if f['side'] == 'BUY' else 'exit'} {str(f['liquidity']).lower()} {f['orders']}"
                       for f in execution["fills"])
    print(f"execution: entries {execution['entry_order_type']['sighook']} (sighook), exits "
          f"{execution['exit_order_style']}; orders filled by liquidity: {filled or 'none'}")
    if summary["entry_signals_blocked_by_dust"] and not request.ignore_dust:
        print(f"note: {summary['entry_signals_blocked_by_dust']} buy signal(s) were blocked only by unsellable dust "
              "(sighook counted it as a position); --ignore-dust shows what entries would do without that rule")
    print(f"database: {outcome.database} ({outcome.database_url}) — e.g. "
          f"DATABASE_URL=…/{outcome.database} python main.py report performance")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
