"""Recompute allocations from the stored fills into a table (shared by rebuild and check).

The fills are read in the total order through a server-side cursor, in chunks, so memory stays
bounded whatever the number of fills. A recomputation of every symbol over many fills runs in
worker processes instead (parallel.py): same chunker, same bytes. (A worker thread was measured
first: no gain, the GIL serialises it with asyncpg's decoding.)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
from tqdm import tqdm

from fifo_engine import parallel, sql
from fifo_engine.engine import FifoBook
from fifo_engine.model import EngineConfig
from fifo_engine.order_fields import OrderFields
from fifo_engine.pg import SLICE_COPY_COLUMNS, copy_text, encode_slices, needs_escape

if TYPE_CHECKING:
    from fifo_engine.order_fields import FieldWriter

CHUNK = 25_000
_CURSOR = "fifo_recompute_fills"


@dataclass(frozen=True, slots=True)
class RecomputeCounts:
    fills: int
    allocations: int
    missing_basis: int
    workers: int = 1  # processes that did the matching (1: this one)


class Chunker:
    """The pure part of one chunk: match, accumulate order fields, encode."""

    def __init__(self, config: EngineConfig, fields: OrderFields | None) -> None:
        self.book = FifoBook(config, keep_history=False)
        self.fields = fields
        self.allocations = 0
        self.missing = 0

    def __call__(self, records: Sequence[Any]) -> bytes:
        clean = not needs_escape("".join(r[0] + r[1] + r[2] + r[9] for r in records))
        if self.fields is not None:
            self.fields.add_fills(records)
        rows = self.book.apply_rows(records)
        if self.fields is not None:
            self.fields.add_slices(rows)
        self.allocations += len(rows)
        self.missing += sum(1 for r in rows if r[1] is None)
        return encode_slices(rows, clean)


async def recompute_into(driver: asyncpg.Connection, config: EngineConfig, scope: sql.Scope, table: str,
                         progress: bool, fields: FieldWriter | None = None, dsn: str | None = None,
                         workers: int = 1) -> RecomputeCounts:
    """Stream the fills of `scope` through a FifoBook and COPY every slice into `table`; with
    `fields`, also write the derived order fields through it. With `dsn` and `workers` > 1, a
    recomputation of everything over PARALLEL_MIN_FILLS fills or more runs in worker processes."""
    total = await driver.fetchval(f"SELECT count(*) FROM fills f WHERE {scope.fills}", *scope.params)
    # Sort in memory (the total order needs COLLATE "C", which no index provides); no JIT: its
    # compile time (~1 s) is wasted on these set-based statements, whose row estimates are poor.
    await driver.execute("SET LOCAL work_mem = '256MB'")
    await driver.execute("SET LOCAL jit = off")
    await driver.execute(sql.READ_SETTINGS)
    if dsn is not None and workers > 1 and scope == sql.Scope.everything() and total >= parallel.PARALLEL_MIN_FILLS:
        results = await parallel.recompute_in_workers(driver, dsn, config, table, workers, progress, fields)
        return RecomputeCounts(sum(r.fills for r in results), sum(r.allocations for r in results),
                               sum(r.missing_basis for r in results), len(results))
    if fields is not None:
        await fields.start()
    fills_in_order = sql.FILLS_IN_ORDER.format(where=scope.fills, first="")
    await driver.execute(f"DECLARE {_CURSOR} NO SCROLL CURSOR FOR {fills_in_order}", *scope.params)
    chunker = Chunker(config, OrderFields() if fields is not None else None)
    fills = 0
    fetch = f"FETCH {CHUNK} FROM {_CURSOR}"
    with tqdm(total=total, unit="fill", desc="fifo recompute", disable=not progress, file=sys.stderr,
              mininterval=0.5) as bar:
        while records := await driver.fetch(fetch):
            await copy_text(driver, table, SLICE_COPY_COLUMNS, chunker(records))
            fills += len(records)
            bar.update(len(records))
    await driver.execute(f"CLOSE {_CURSOR}")
    if fields is not None and chunker.fields is not None:
        await fields.write([chunker.fields.batch()])
    return RecomputeCounts(fills, chunker.allocations, chunker.missing)
