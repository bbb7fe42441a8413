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
from risk.cli_output import halt_text, resume_text, status_text
from risk.manager import RiskManager
from risk.rules import Breaker

ALL = "all"


def _wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def register(sub: Any) -> None:
    """Add the risk verbs to main.py's subparsers."""
    halt = sub.add_parser("halt", help="kill switch: block all new entries (exits keep running) until `resume`")
    halt.add_argument("--reason", default="manual halt", help="why (stored and shown by risk-status)")
    halt.add_argument("--json", action="store_true", help="print the result as JSON")
    halt.set_defaults(handler=cmd_halt)
    resume = sub.add_parser(
        "resume", help="clear tripped breakers (default: kill_switch and losing_streak; daily_loss clears "
        "itself at the next UTC day unless named here)")
    resume.add_argument("--breaker", action="append", choices=[b.value for b in Breaker] + [ALL],
                        help="breaker to clear (repeatable; 'all' = every breaker)")
    resume.add_argument("--json", action="store_true", help="print the result as JSON")
    resume.set_defaults(handler=cmd_resume)
    status = sub.add_parser("risk-status", help="show breakers, why they tripped, and today's counters")
    status.add_argument("--json", action="store_true", help="exact values as JSON (for scripts)")
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
            if _wants_json(args):
                print(json.dumps({"halted": True, "reason": args.reason}))
            else:
                sys.stdout.write(halt_text(args.reason))
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
            names = [b.value for b in cleared]
            blocked = (await risk.state()).entries_blocked
            if _wants_json(args):
                print(json.dumps({"cleared": names, "entries_blocked": blocked}))
            else:
                sys.stdout.write(resume_text(names, blocked))
    except SchemaNotAtHead as exc:
        print(f"bottrader: {exc}", file=sys.stderr)
        return 3
    return 0


async def cmd_risk_status(settings: Settings, args: argparse.Namespace) -> int:
    from shared_data.migrate import SchemaNotAtHead

    try:
        async with _risk_manager(settings) as risk:
            state = (await risk.state()).as_dict()
            if _wants_json(args):
                print(json.dumps(state, indent=2))
            else:
                sys.stdout.write(status_text(state))
    except SchemaNotAtHead as exc:
        print(f"bottrader: {exc}", file=sys.stderr)
        return 3
    return 0
