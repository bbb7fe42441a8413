"""Admin verbs: `halt [--reason]`, `resume [--breaker NAME]…`, `risk-status`.

They act on the database, so a running daemon sees a halt at its next entry check.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from core.settings import Settings
from risk.manager import RiskManager
from risk.rules import Breaker

ALL = "all"


def register(sub: Any) -> None:
    """Add the risk verbs to main.py's subparsers."""
    halt = sub.add_parser("halt", help="kill switch: block all new entries (exits keep running) until `resume`")
    halt.add_argument("--reason", default="manual halt", help="why (stored and shown by risk-status)")
    halt.set_defaults(handler=cmd_halt)
    resume = sub.add_parser(
        "resume", help="clear tripped breakers (default: kill_switch and losing_streak; daily_loss clears "
        "itself at the next UTC day unless named here)")
    resume.add_argument("--breaker", action="append", choices=[b.value for b in Breaker] + [ALL],
                        help="breaker to clear (repeatable; 'all' = every breaker)")
    resume.set_defaults(handler=cmd_resume)
    status = sub.add_parser("risk-status", help="show breakers, why they tripped, and today's counters (JSON)")
    status.set_defaults(handler=cmd_risk_status)


@asynccontextmanager
async def _risk_manager(settings: Settings) -> AsyncIterator[RiskManager]:
    from shared_data import migrate
    from shared_data.db import create_engine, session_factory
    from shared_data.server import database_url

    async with database_url(settings) as url:
        await migrate.ensure_at_head(url)
        engine = create_engine(url, pool_size=1, connect_timeout_s=settings.db_connect_timeout_s)
        try:
            yield RiskManager(session_factory(engine), settings)
        finally:
            await engine.dispose()


async def cmd_halt(settings: Settings, args: argparse.Namespace) -> int:
    from shared_data.migrate import SchemaNotAtHead

    try:
        async with _risk_manager(settings) as risk:
            await risk.halt(args.reason)
            print(json.dumps({"halted": True, "reason": args.reason}))
    except SchemaNotAtHead as exc:
        print(f"bottrader: {exc}", file=sys.stderr)
        return 3
    return 0


async def cmd_resume(settings: Settings, args: argparse.Namespace) -> int:
    from shared_data.migrate import SchemaNotAtHead

    names: list[str] = args.breaker or []
    breakers = list(Breaker) if ALL in names else [Breaker(n) for n in names] or None
    try:
        async with _risk_manager(settings) as risk:
            cleared = await risk.resume(breakers)
            print(json.dumps({"cleared": [b.value for b in cleared],
                              "entries_blocked": (await risk.state()).entries_blocked}))
    except SchemaNotAtHead as exc:
        print(f"bottrader: {exc}", file=sys.stderr)
        return 3
    return 0


async def cmd_risk_status(settings: Settings, _args: argparse.Namespace) -> int:
    from shared_data.migrate import SchemaNotAtHead

    try:
        async with _risk_manager(settings) as risk:
            print(json.dumps((await risk.state()).as_dict(), indent=2))
    except SchemaNotAtHead as exc:
        print(f"bottrader: {exc}", file=sys.stderr)
        return 3
    return 0
