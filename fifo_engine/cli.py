"""CLI verbs: `fifo rebuild [--symbol S]` and `fifo check [--symbol S]` (exit 1 when inconsistent)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings


def register(sub: Any) -> None:
    fifo = sub.add_parser("fifo", help="FIFO tax lots: recompute from fills, or check consistency",
                          description="FIFO tax lots (fifo_allocations) and the FIFO-derived order fields.")
    actions = fifo.add_subparsers(dest="fifo_action", required=True, metavar="ACTION")
    rebuild = actions.add_parser(
        "rebuild", help="recompute allocations and derived order fields from the stored fills",
        description="Recompute fifo_allocations and the FIFO-derived trade_records fields from the fills "
        "(only rows that differ are rewritten). Prints what changed (--json: the statistics as JSON).")
    rebuild.add_argument("--symbol", help="only this product (e.g. BTC-USD)")
    rebuild.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    rebuild.add_argument("--json", action="store_true", help="print the statistics as JSON")
    rebuild.set_defaults(handler=_rebuild)
    check = actions.add_parser(
        "check", help="report every FIFO inconsistency; changes nothing (exit 1 when any)",
        description="Validate fifo_allocations and the derived order fields against the fills. Read-only.")
    check.add_argument("--symbol", help="only this product (e.g. BTC-USD)")
    check.add_argument("--json", action="store_true", help="print every inconsistency as JSON lines")
    check.add_argument("--limit", type=int, default=50, help="lines to print in text mode (default 50)")
    check.add_argument("--progress", action="store_true", help="progress bar on stderr")
    check.set_defaults(handler=_check)


class _SchemaError(Exception):
    pass


@asynccontextmanager
async def _sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    from shared_data import migrate
    from shared_data.db import create_engine, session_factory
    from shared_data.server import database_url

    async with database_url(settings) as url:
        try:
            await migrate.ensure_at_head(url)
        except migrate.SchemaNotAtHead as exc:
            raise _SchemaError(str(exc)) from None
        # Admin verbs over every fill: no statement timeout.
        engine = create_engine(url, pool_size=1, statement_timeout_ms=0,
                               connect_timeout_s=settings.db_connect_timeout_s)
        try:
            yield session_factory(engine)
        finally:
            await engine.dispose()


async def _rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from fifo_engine.rebuild import rebuild

    try:
        async with _sessions(settings) as sessions:
            stats = await rebuild(sessions, settings, symbol=args.symbol, progress=not args.no_progress)
    except _SchemaError as exc:
        print(f"bottrader: {exc}", file=sys.stderr)
        return 3
    if getattr(args, "json", False):
        print(json.dumps(asdict(stats)))
    else:
        scope = stats.symbol or "all symbols"
        print(f"fifo rebuild ({scope}): {stats.fills} fills → {stats.allocations} allocations "
              f"({stats.inserted} written, {stats.deleted} removed, {stats.unchanged} unchanged; "
              f"{stats.missing_basis} without basis); orders updated: {stats.sell_orders_updated} sells, "
              f"{stats.buy_orders_updated} buys; {stats.seconds:.1f} s")
    return 0


async def _check(settings: Settings, args: argparse.Namespace) -> int:
    from fifo_engine.validator import check

    try:
        async with _sessions(settings) as sessions:
            found = await check(sessions, settings, symbol=args.symbol, progress=args.progress)
    except _SchemaError as exc:
        print(f"bottrader: {exc}", file=sys.stderr)
        return 3
    if args.json:
        for item in found:
            print(json.dumps(asdict(item)))
    else:
        for item in found[: max(args.limit, 0)]:
            print(item)
        if len(found) > args.limit:
            print(f"… {len(found) - args.limit} more")
        by_kind = Counter(item.kind for item in found)
        summary = ", ".join(f"{kind}={n}" for kind, n in sorted(by_kind.items()))
        # The verdict is the command's result: stdout, for people (--json prints only the items).
        if found:
            print(f"fifo check: {len(found)} inconsistencies ({summary}); `fifo rebuild` recomputes them")
        else:
            print("fifo check: consistent (0 inconsistencies)")
    return 1 if found else 0
