"""What one single-statement write costs on each path the code has: an ORM session in autocommit
(shared_data.db.single_statement), the same inside a unit of work (BEGIN … COMMIT), and the direct
path (shared_data.direct: the pool's connection, the driver, `$n` SQL), beside the floor: a bare
asyncpg connection sending the same statement. Prints JSON (µs per statement, wall and CPU).

    DATABASE_URL=postgresql://… .venv/bin/python bench/statement_paths.py [--statements 2000]

A throwaway database with synchronous_commit=off (as a replay's), one row updated over and over.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from sqlalchemy import Column, Integer, MetaData, String, Table, update

from core.settings import load_settings
from shared_data import direct
from shared_data.db import (
    create_database,
    create_engine,
    drop_database,
    session_factory,
    single_statement,
    to_plain_url,
    unit_of_work,
)
from shared_data.server import server_url

NAME = "bench_statement_paths"
META = MetaData()
PROBE = Table("probe", META, Column("id", Integer, primary_key=True), Column("v", String))
SQL = "UPDATE probe SET v = $1 WHERE id = $2"


async def _measure(fn: Callable[[], Awaitable[object]], n: int) -> dict[str, float]:
    for _ in range(min(200, n)):
        await fn()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        await fn()
    return {"wall_us": round((time.perf_counter() - wall) / n * 1e6, 1),
            "cpu_us": round((time.process_time() - cpu) / n * 1e6, 1)}


async def run(n: int) -> dict[str, object]:
    async with server_url(load_settings()) as server:
        url = await create_database(server, NAME, drop_first=True)
        admin = await asyncpg.connect(to_plain_url(url), timeout=10)
        await admin.execute(f'ALTER DATABASE "{NAME}" SET synchronous_commit = off')
        await admin.close()
        engine = create_engine(url, pool_size=4, pre_ping=False)
        async with engine.begin() as conn:
            await conn.run_sync(META.create_all)
            await conn.execute(PROBE.insert().values(id=1, v="a"))
        sessions = session_factory(engine)
        floor = await asyncpg.connect(to_plain_url(url), timeout=10)

        async def orm_autocommit() -> None:
            async with single_statement(sessions) as session:
                await session.execute(update(PROBE).where(PROBE.c.id == 1).values(v="b"))

        async def orm_unit_of_work() -> None:
            async with unit_of_work(sessions) as session:
                await session.execute(update(PROBE).where(PROBE.c.id == 1).values(v="b"))

        async def direct_path() -> None:
            await direct.execute(sessions, SQL, "b", 1)

        async def bare_connection() -> None:
            await floor.execute(SQL, "b", 1)

        out: dict[str, object] = {"benchmark": "statement_paths", "statements": n}
        for name, fn in (("orm_session_autocommit", orm_autocommit), ("orm_unit_of_work", orm_unit_of_work),
                         ("direct", direct_path), ("floor_bare_asyncpg_connection", bare_connection)):
            out[name] = await _measure(fn, n)
        await floor.close()
        await engine.dispose()
        await drop_database(server, NAME)
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", type=int, default=2000)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args.statements)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
