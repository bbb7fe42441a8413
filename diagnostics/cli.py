"""`python main.py diagnose [--duration 15m] [--json] [--url URL]`.

Exit codes: 0 every check passed; 1 a check failed; 2 bad arguments or settings; 3 a check could not
run (e.g. the exchange lives inside the daemon's own process); 4 the database is unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.logging import get_logger
from core.settings import Settings
from diagnostics.duration import parse_duration

log = get_logger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "diagnose", help="watch the running daemon for a while and check that its trailing stops and exits work",
        description="Watches a running webhook daemon through the database, /health/trailing_stop and /metrics "
        "(and read-only exchange calls; it never places or cancels an order), then prints per symbol the price "
        "updates and their largest gap, activations, stop moves decided vs acknowledged by the exchange, exits "
        "and their latency, and the consistency checks. Exit code 0 only when every check passed.",
    )
    p.add_argument("--duration", type=_duration, default=parse_duration("15m"), metavar="DURATION",
                   help="how long to watch: 15m (default), 60s, 1h30m …")
    p.add_argument("--json", action="store_true", help="print the report as JSON (progress goes to stderr)")
    p.add_argument("--url", metavar="URL", help="the daemon's base URL (default DIAGNOSE_WEBHOOK_URL, else "
                   "http://WEBHOOK_HOST:WEBHOOK_PORT)")
    p.set_defaults(handler=run_diagnose)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def daemon_url(settings: Settings, given: str | None) -> str:
    if given:
        return given
    if settings.diagnose_webhook_url:
        return settings.diagnose_webhook_url
    host = "127.0.0.1" if settings.webhook_host in ("0.0.0.0", "::", "") else settings.webhook_host
    return f"http://{host}:{settings.webhook_port}"


async def run_diagnose(settings: Settings, args: argparse.Namespace) -> int:
    from diagnostics.report import render_text
    from diagnostics.run import diagnose
    from shared_data.db import create_engine, session_factory
    from shared_data.server import database_url

    def progress(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    url = daemon_url(settings, args.url)
    runtime = None
    note = None
    if settings.is_paper and not settings.rest_base_url:
        note = ("the paper exchange runs inside the daemon's process; point REST_BASE_URL at a standalone "
                "simulator to check exchange orders and balances")
    else:
        from webhook.exchange_runtime import open_exchange

        runtime = await open_exchange(settings)
    try:
        async with database_url(settings) as db:
            engine = create_engine(db, pool_size=2)
            try:
                report = await diagnose(settings, session_factory(engine), runtime.rest if runtime else None, url,
                                        args.duration, exchange_note=note, progress=progress)
            finally:
                await engine.dispose()
    finally:
        if runtime is not None:
            await runtime.close()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        sys.stdout.write(render_text(report))
    log.info("diagnose_finished", exit_code=report.exit_code, failed=[c.name for c in report.checks if not c.passed])
    return report.exit_code
