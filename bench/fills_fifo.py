"""Fills recorded per second with real-time FIFO (target ≥ 3,000 fills/s). Prints JSON.

    .venv/bin/python bench/fills_fifo.py [--fills 100000] [--per-txn 1,10,100] [--symbols 20]

For each transaction size K, the same N fills go through the real-time path — one transaction per
K fills: `insert_fills` + `FifoLedger.apply_fills` (fifo_allocations rows and the derived
trade_records fields of orders that exist) — sustained over all N, on fresh tables, with the
project's engine settings. Next to it, in the same run and on the same rows: the raw `executemany`
INSERT rate and the raw COPY rate of the fills alone, the same transactions with `insert_fills`
alone (no FIFO), and the round-trip and one-row-commit latency that bound small transactions.
Uses DATABASE_URL's server (else the embedded one) and a scratch
database that is dropped at the end. Realistic data: orders of 1–3 fills on several symbols,
UUID ids, fees with many decimals, occasional sells beyond inventory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.enums import IngestVia, Side
from core.logging import configure_logging
from core.settings import Settings, load_settings
from fifo_engine.ledger import FifoLedger
from fifo_engine.model import FillFact
from fifo_engine.pg import encode_rows
from shared_data import migrate
from shared_data.db import create_database, create_engine, drop_database, session_factory, to_plain_url
from shared_data.server import database_url
from shared_data.trade_recorder import FILL_COLUMNS, insert_fills

T0 = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
FEE_RATE = Decimal("0.006")
FEE_QUANTUM = Decimal("1e-10")

FillRow = tuple[Any, ...]  # FILL_COLUMNS order


def generate_fills(n: int, symbols: int, seed: int = 7) -> Iterator[FillRow]:
    """N fills in time order over `symbols` products; orders of 1–3 fills; ~1 % oversells."""
    rnd = random.Random(seed)
    names = [f"C{i:03d}-USD" for i in range(symbols)]
    price = {s: Decimal(rnd.randint(100, 5_000_000)) / 100 for s in names}
    held = dict.fromkeys(names, Decimal(0))
    current: dict[str, tuple[str, Side, int]] = {}
    t = T0
    tie = 0
    for _ in range(n):
        symbol = rnd.choice(names)
        order = current.get(symbol)
        if order is None or order[2] <= 0:
            side = Side.BUY if held[symbol] < 1 or rnd.random() < 0.52 else Side.SELL
            order = (str(uuid.UUID(int=rnd.getrandbits(128))), side, rnd.randint(1, 3))
        order_id, side, left = order
        current[symbol] = (order_id, side, left - 1)
        price[symbol] = max(Decimal("0.01"), price[symbol] + Decimal(rnd.randint(-50, 50)) / 100)
        size = Decimal(rnd.randint(1, 50_000)) / 10_000
        if side is Side.SELL:
            size = min(size, held[symbol]) if rnd.random() > 0.01 and held[symbol] > 0 else size
            held[symbol] = max(Decimal(0), held[symbol] - size)
        else:
            held[symbol] += size
        fee = (size * price[symbol] * FEE_RATE).quantize(FEE_QUANTUM)
        if rnd.random() > 0.03:  # ~3 % share a timestamp with the previous fill (sequence breaks the tie)
            t += timedelta(seconds=rnd.randint(1, 40), microseconds=rnd.randint(0, 999_999))
            tie = 0
        tie += 1
        yield (str(uuid.UUID(int=rnd.getrandbits(128))), order_id, symbol, side.value, price[symbol], size, fee,
               "MAKER" if rnd.random() < 0.5 else "TAKER", t, t + timedelta(microseconds=tie), "default",
               IngestVia.REST.value)


def to_fact(row: FillRow) -> FillFact:
    return FillFact(trade_id=row[0], order_id=row[1], symbol=row[2], side=Side(row[3]), price=row[4], size=row[5],
                    commission=row[6], liquidity_indicator=row[7], trade_time=row[8], sequence_timestamp=row[9],
                    portfolio_id=row[10])


def order_rows(rows: list[FillRow]) -> list[FillRow]:
    """One trade_records row per order (what the order manager writes before the fills come)."""
    orders = {r[1]: r for r in rows}
    return [(oid, r[2], r[3], "LIMIT", "FILLED", "webhook", "rest") for oid, r in orders.items()]


ORDER_COLUMNS = ("order_id", "symbol", "side", "order_type", "status", "source", "ingest_via")


@asynccontextmanager
async def scratch_database(settings: Settings, label: str) -> AsyncIterator[str]:
    """A migrated scratch database on the configured (or embedded) server, dropped afterwards."""
    async with database_url(settings) as url:
        name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
        scratch = await create_database(url, name)
        try:
            await migrate.upgrade(scratch)
            yield scratch
        finally:
            await drop_database(url, name)


async def server_facts(conn: Any) -> dict[str, str]:
    return {k: await conn.fetchval(f"SHOW {k}") for k in ("server_version", "synchronous_commit", "fsync")}


async def raw_rates(url: str, rows: list[FillRow]) -> dict[str, float]:
    import asyncpg

    conn = await asyncpg.connect(to_plain_url(url))
    try:
        cols = ", ".join(FILL_COLUMNS)
        params = ", ".join(f"${i}" for i in range(1, len(FILL_COLUMNS) + 1))
        out: dict[str, float] = {}
        await conn.execute("TRUNCATE fills")
        started = time.perf_counter()
        await conn.executemany(f"INSERT INTO fills ({cols}) VALUES ({params})", rows)
        out["raw_executemany_fills_per_s"] = len(rows) / (time.perf_counter() - started)
        await conn.execute("TRUNCATE fills")
        started = time.perf_counter()
        await conn.copy_records_to_table("fills", records=rows, columns=list(FILL_COLUMNS))
        out["raw_copy_binary_fills_per_s"] = len(rows) / (time.perf_counter() - started)
        await conn.execute("TRUNCATE fills")
        started = time.perf_counter()
        await conn.copy_to_table("fills", source=_chunks(encode_rows(rows)), columns=list(FILL_COLUMNS),
                                 format="text")
        out["raw_copy_text_fills_per_s"] = len(rows) / (time.perf_counter() - started)
        await conn.execute("TRUNCATE fills")
        return {k: round(v) for k, v in out.items()}
    finally:
        await conn.close()


async def _chunks(data: bytes, size: int = 1 << 20) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def latency(url: str) -> dict[str, float]:
    """What bounds small transactions here: one round trip, and one committed one-row transaction."""
    import asyncpg

    conn = await asyncpg.connect(to_plain_url(url))
    try:
        await conn.execute("CREATE TABLE bench_commit (x int)")
        started = time.perf_counter()
        for _ in range(500):
            await conn.fetchval("SELECT 1")
        round_trip = (time.perf_counter() - started) / 500
        started = time.perf_counter()
        for _ in range(200):
            async with conn.transaction():
                await conn.execute("INSERT INTO bench_commit VALUES (1)")
        commit = (time.perf_counter() - started) / 200
        await conn.execute("DROP TABLE bench_commit")
        return {"round_trip_ms": round(round_trip * 1e3, 3), "one_row_transaction_ms": round(commit * 1e3, 3)}
    finally:
        await conn.close()


async def fifo_rate(url: str, settings: Settings, rows: list[FillRow], per_txn: int, with_fifo: bool = True,
                    analyze_every: int = 5000) -> dict[str, Any]:
    """The real-time path over all rows, `per_txn` fills per transaction; without FIFO: the recorder alone.

    Every `analyze_every` fills the tables are ANALYZEd on a side connection, untimed — what
    autovacuum does on a default server (this one may run with autovacuum off, and plans made from
    the statistics of empty tables would turn every lookup into a scan of the whole table)."""
    import asyncpg

    conn = await asyncpg.connect(to_plain_url(url))
    try:
        await conn.execute("TRUNCATE fills, fifo_allocations, trade_records")
        await conn.copy_to_table("trade_records", source=_chunks(encode_rows(order_rows(rows))),
                                 columns=list(ORDER_COLUMNS), format="text")
        await conn.execute("VACUUM ANALYZE")
        facts = [to_fact(r) for r in rows]
        engine = create_engine(url, pool_size=1)  # the daemon's engine settings (pool_pre_ping included)
        sessions = session_factory(engine)
        try:
            async with sessions() as s, s.begin():
                ledger = await FifoLedger.load(s, settings)
            written = 0
            analyze_s = 0.0
            next_analyze = analyze_every
            started = time.perf_counter()
            cpu = time.process_time()
            for i in range(0, len(facts), per_txn):
                async with sessions() as s, s.begin():
                    new = await insert_fills(s, facts[i:i + per_txn], IngestVia.REST)
                    if with_fifo:
                        written += len(await ledger.apply_fills(s, new))
                if analyze_every and i + per_txn >= next_analyze:
                    paused = time.perf_counter()
                    await conn.execute("ANALYZE fills, fifo_allocations, trade_records")
                    analyze_s += time.perf_counter() - paused
                    next_analyze += analyze_every
            elapsed = time.perf_counter() - started - analyze_s
            cpu = time.process_time() - cpu
        finally:
            await engine.dispose()
        stored = await conn.fetchval("SELECT count(*) FROM fifo_allocations")
        out: dict[str, Any] = {"fills_per_txn": per_txn, "seconds": round(elapsed, 2),
                               "fills_per_s": round(len(rows) / elapsed), "client_cpu_seconds": round(cpu, 2),
                               "untimed_analyze_seconds": round(analyze_s, 2)}
        if with_fifo:
            out.update(allocations_written=written, allocation_rows=stored, meets_target=len(rows) / elapsed >= 3000)
        return out
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--per-txn", default="1,10,100", help="fills per transaction (comma-separated)")
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--analyze-every", type=int, default=5000,
                        help="ANALYZE the tables every N fills, untimed, as autovacuum would (0: never)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the same runs with insert_fills alone (no FIFO)")
    args = parser.parse_args()
    settings = load_settings()
    configure_logging("WARNING", "json")
    rows = list(generate_fills(args.fills, args.symbols, args.seed))
    async with scratch_database(settings, "fills") as url:
        import asyncpg

        conn = await asyncpg.connect(to_plain_url(url))
        facts = await server_facts(conn)
        facts["autovacuum"] = await conn.fetchval("SHOW autovacuum")
        await conn.close()
        lat = await latency(url)
        raw = await raw_rates(url, rows)
        sizes = [int(k) for k in args.per_txn.split(",")]
        runs = [await fifo_rate(url, settings, rows, k, True, args.analyze_every) for k in sizes]
        baseline = [] if args.no_baseline else [await fifo_rate(url, settings, rows, k, False, args.analyze_every)
                                                for k in sizes]
    print(json.dumps({
        "bench": "fills_fifo", "fills": args.fills, "symbols": args.symbols, "target_fills_per_s": 3000,
        "server": facts, **lat, **raw, "fifo_runs": runs, "recorder_only_runs": baseline,
        "load_average": os.getloadavg(),
    }, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
