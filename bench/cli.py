"""`python main.py bench`: every benchmark in one go → bench/results/report.{json,md}."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from core.settings import Settings


def register(sub: Any) -> None:
    from bench.report import add_arguments

    parser = sub.add_parser("bench", help="run every benchmark and write one JSON and one Markdown table")
    add_arguments(parser)
    parser.set_defaults(handler=_handler)


async def _handler(_settings: Settings, args: argparse.Namespace) -> int:
    from bench.report import run

    # The benchmarks are child processes; run them off the event loop.
    return await asyncio.to_thread(run, args)
