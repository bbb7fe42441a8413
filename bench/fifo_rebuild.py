"""`fifo rebuild` time for 1M fills over 100 symbols (target ≤ 30 s). Prints JSON.

    .venv/bin/python bench/fifo_rebuild.py [--fills 1000000] [--symbols 100]

Loads N generated fills (and one trade_records row per order) into a scratch database with COPY —
that COPY of the fills is the raw rate measured in the same run — then times:
- `rebuild_from_empty`: fifo_allocations empty, derived order fields NULL (the full job: stream and
  match every fill, COPY every slice, set the derived fields of every order);
- `rebuild_again`: the same on consistent data (recompute, compare byte for byte, write nothing);
- `check`: the validator over everything.
Uses DATABASE_URL's server (else the embedded one); the scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
from fills_fifo import ORDER_COLUMNS, generate_fills, scratch_database, server_facts

from core.logging import configure_logging
from core.settings import load_settings
from fifo_engine.pg import encode_rows
from fifo_engine.rebuild import rebuild
from fifo_engine.validator import check
from shared_data.db import create_engine, session_factory, to_plain_url
from shared_data.trade_recorder import FILL_COLUMNS

TARGET_S = 30.0
CHUNK = 100_000


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def load(conn: asyncpg.Connection, n: int, symbols: int, seed: int) -> dict[str, Any]:
    """COPY the fills (timed: the raw rate) and the order rows (untimed), chunk by chunk."""
    copy_s = 0.0
    orders: dict[str, tuple[Any, ...]] = {}
    chunk: list[tuple[Any, ...]] = []

    async def flush() -> float:
        encoded = encode_rows(chunk)
        started = time.perf_counter()
        await conn.copy_to_table("fills", source=_one(encoded), columns=list(FILL_COLUMNS), format="text")
        return time.perf_counter() - started

    for row in generate_fills(n, symbols, seed):
        chunk.append(row)
        orders.setdefault(row[1], (row[1], row[2], row[3], "LIMIT", "FILLED", "webhook", "rest"))
        if len(chunk) == CHUNK:
            copy_s += await flush()
            chunk = []
    if chunk:
        copy_s += await flush()
    await conn.copy_to_table("trade_records", source=_one(encode_rows(orders.values())),
                             columns=list(ORDER_COLUMNS), format="text")
    await conn.execute("ANALYZE")
    return {"orders": len(orders), "raw_copy_seconds": round(copy_s, 2), "raw_copy_fills_per_s": round(n / copy_s)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-check", action="store_true", help="do not time the validator")
    args = parser.parse_args()
    settings = load_settings()
    configure_logging("WARNING", "json")
    result: dict[str, Any] = {"bench": "fifo_rebuild", "fills": args.fills, "symbols": args.symbols,
                              "target_seconds": TARGET_S}
    async with scratch_database(settings, "rebuild") as url:
        conn = await asyncpg.connect(to_plain_url(url))
        try:
            result["server"] = await server_facts(conn)
            result.update(await load(conn, args.fills, args.symbols, args.seed))
        finally:
            await conn.close()
        engine = create_engine(url, pool_size=1, statement_timeout_ms=0)
        sessions = session_factory(engine)
        try:
            cpu = time.process_time()
            stats = await rebuild(sessions, settings, progress=False)
            result["rebuild_from_empty"] = {**asdict(stats), "client_cpu_seconds": round(time.process_time() - cpu, 2)}
            result["rebuild_fills_per_s"] = round(args.fills / stats.seconds)
            result["meets_target"] = stats.seconds <= TARGET_S
            again = await rebuild(sessions, settings, progress=False)
            result["rebuild_again"] = {"seconds": again.seconds, "inserted": again.inserted,
                                       "deleted": again.deleted, "orders_updated": again.sell_orders_updated
                                       + again.buy_orders_updated}
            if not args.skip_check:
                started = time.perf_counter()
                found = await check(sessions, settings)
                result["check"] = {"seconds": round(time.perf_counter() - started, 2), "inconsistencies": len(found)}
        finally:
            await engine.dispose()
    result["load_average"] = os.getloadavg()
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    asyncio.run(main())
