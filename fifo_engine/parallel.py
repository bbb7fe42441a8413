"""Recompute allocations in worker processes, one group of symbols each (for `fifo rebuild`/`check`).

FIFO queues never cross symbols, so the symbols are split into groups of about equal fill counts
and each group is matched in its own process — the matching is pure Python and one process would
leave the other cores idle. Every worker reads its fills through its own connection, in the
snapshot that the caller's transaction exported after taking the FIFO lock (so all of them see
exactly the fills the caller sees), one symbol after the other, runs the same `Chunker` as the
in-process path (same arithmetic, same text encoding), and sends the encoded COPY data back
through a pipe. The caller streams it into its own transaction with COPY, while the workers go on
computing: the server ingests rows on one core while the workers match on the others. When a
symbol is done, the worker also sends its orders' derived fields; the caller writes those between
two COPYs (order_fields.FieldWriter), so that work overlaps the matching too.

A worker that fails sends its traceback; one that dies closes its pipe. Either aborts the COPY, and
with it the caller's transaction; the remaining workers are terminated.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import re
import sys
import threading
import traceback
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import asyncpg
from tqdm import tqdm

from fifo_engine import sql
from fifo_engine.model import EngineConfig
from fifo_engine.pg import SLICE_COPY_COLUMNS

if TYPE_CHECKING:
    from fifo_engine.order_fields import FieldBatch, FieldWriter

# Below this many fills the processes' start-up (~0.5 s) costs more than it saves.
PARALLEL_MIN_FILLS = 100_000
CHUNK = 10_000  # fills per message: small enough to keep the server busy while a worker computes
FIELD_BATCH_ORDERS = 50_000  # orders whose fields are written together, between two COPYs
_SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")
_CURSOR = "fifo_worker_fills"
# One symbol after the other (queues never cross symbols), each in the total order.
_FILLS = sql.FILLS_IN_ORDER.format(where="f.symbol = ANY($1::text[])", first='f.symbol COLLATE "C", ')


def worker_count(settings: Any) -> int:
    """Processes for a FIFO recomputation: FIFO_WORKERS, or one per CPU this process may use."""
    configured = int(settings.fifo_workers)
    if configured > 0:
        return configured
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def split_symbols(counts: Sequence[tuple[str, int]], workers: int) -> list[list[str]]:
    """Greedy balance: the largest symbols first, each to the group with the fewest fills so far.
    At most `workers` groups, none empty; deterministic for the same counts."""
    groups: list[tuple[int, int, list[str]]] = [(0, i, []) for i in range(max(1, min(workers, len(counts))))]
    for symbol, n in sorted(counts, key=lambda c: (-c[1], c[0])):
        groups.sort()
        total, index, members = groups[0]
        members.append(symbol)
        groups[0] = (total + n, index, members)
    return [sorted(members) for _, _, members in sorted(groups, key=lambda g: g[1]) if members]


@dataclass(frozen=True, slots=True)
class Job:
    dsn: str
    snapshot: str
    symbols: list[str]
    config: EngineConfig
    with_fields: bool
    statement_timeout: str


@dataclass(frozen=True, slots=True)
class WorkerResult:
    fills: int
    allocations: int
    missing_basis: int


def run_worker(job: Job, out: Connection) -> None:
    """Process entry point: compute, stream ("slices", fills) messages, each followed by the COPY data
    as raw bytes, and, with fields, one ("fields", FieldBatch) per symbol after its slices; end with
    ("done", WorkerResult) or ("error", traceback)."""
    try:
        asyncio.run(_work(job, out))
    except BaseException:  # everything goes back to the parent, which decides
        try:
            out.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        out.close()


async def _work(job: Job, out: Connection) -> None:
    from fifo_engine.order_fields import OrderFields  # here: keeps the parent's import light
    from fifo_engine.recompute import Chunker

    if not _SNAPSHOT_ID.match(job.snapshot):
        raise ValueError(f"not a snapshot id: {job.snapshot!r}")
    conn = await asyncpg.connect(job.dsn, timeout=30)
    try:
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        await conn.execute(f"SET TRANSACTION SNAPSHOT '{job.snapshot}'")
        await conn.execute("SELECT set_config('statement_timeout', $1, true), set_config('work_mem', '256MB', true),"
                           " set_config('jit', 'off', true)", job.statement_timeout)
        await conn.execute(sql.READ_SETTINGS)
        await conn.execute(f"DECLARE {_CURSOR} NO SCROLL CURSOR FOR {_FILLS}", job.symbols)
        chunker = Chunker(job.config, None)
        fills = 0
        symbol: str | None = None
        while records := await conn.fetch(f"FETCH {CHUNK} FROM {_CURSOR}"):
            start = 0
            while start < len(records):  # runs of one symbol (the fills come grouped by symbol)
                first = records[start][2]
                if records[-1][2] == first:
                    end = len(records)
                else:  # by equality: Python's str order is the "C" order only in some encodings
                    end = start + 1
                    while records[end][2] == first:
                        end += 1
                if job.with_fields and first != symbol:
                    if chunker.fields is not None:
                        out.send(("fields", chunker.fields.batch()))
                    chunker.fields = OrderFields()
                symbol = first
                run = records[start:end] if start or end < len(records) else records
                data = chunker(run)
                out.send(("slices", len(run)))
                out.send_bytes(data)  # raw: pickling would copy megabytes once more on each side
                start = end
            fills += len(records)
        await conn.execute("ROLLBACK")
    finally:
        await conn.close()
    if chunker.fields is not None:
        out.send(("fields", chunker.fields.batch()))
    out.send(("done", WorkerResult(fills, chunker.allocations, chunker.missing)))


class WorkerFailed(RuntimeError):
    pass


async def recompute_in_workers(driver: asyncpg.Connection, dsn: str, config: EngineConfig, table: str,
                               workers: int, progress: bool, fields: FieldWriter | None) -> list[WorkerResult]:
    """Every fill (all symbols) through `workers` processes; their slices COPYed into `table` in the
    caller's transaction (`driver`), the derived order fields given to `fields` as they come.
    Returns one result per worker."""
    snapshot = await driver.fetchval("SELECT pg_export_snapshot()")
    timeout = await driver.fetchval("SELECT current_setting('statement_timeout')")
    # Counted after the export: a symbol whose first fill commits later is then at worst an empty group.
    counts = [(r[0], r[1]) for r in await driver.fetch("SELECT symbol, count(*) FROM fills GROUP BY symbol")]
    groups = split_symbols(counts, workers)
    context = multiprocessing.get_context("spawn")  # no fork of a process with an event loop and sockets
    processes = []
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[int, Any]] = asyncio.Queue(maxsize=4 * len(groups))  # back-pressure
    stop = threading.Event()
    try:
        for index, symbols in enumerate(groups):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=run_worker, name=f"fifo-worker-{index}", daemon=True,
                                      args=(Job(dsn, snapshot, symbols, config, fields is not None, timeout), send))
            process.start()
            send.close()  # the worker holds the only write end: its exit is EOF here
            processes.append(process)
            threading.Thread(target=_pump, args=(index, receive, loop, inbox, stop), daemon=True,
                             name=f"fifo-worker-pump-{index}").start()
        if fields is not None:
            await fields.start()  # while the workers start
        results: dict[int, WorkerResult] = {}
        pending: list[FieldBatch] = []
        total = sum(n for _, n in counts)
        with tqdm(total=total, unit="fill", desc=f"fifo recompute ×{len(groups)}", disable=not progress,
                  file=sys.stderr, mininterval=0.5) as bar:

            async def slices() -> AsyncIterator[bytes]:
                """Slice data until every worker is done, or until enough order fields are waiting
                (the COPY then ends, the fields are written, and a new COPY goes on)."""
                while len(results) < len(groups):
                    index, message = await inbox.get()
                    kind = message[0]
                    if kind == "slices":
                        bar.update(message[1])
                        if message[2]:
                            yield message[2]
                    elif kind == "fields":
                        pending.append(message[1])
                        if sum(b.orders for b in pending) >= FIELD_BATCH_ORDERS:
                            return
                    elif kind == "done":
                        results[index] = message[1]
                    elif kind == "error":
                        raise WorkerFailed(f"FIFO worker {index} failed:\n{message[1]}")
                    else:  # "eof": the process ended without a result (killed, out of memory)
                        raise WorkerFailed(f"FIFO worker {index} exited without a result "
                                           f"(exit code {processes[index].exitcode})")

            while True:
                await driver.copy_to_table(table, source=slices(), columns=list(SLICE_COPY_COLUMNS), format="text")
                if pending and fields is not None:
                    await fields.write(pending)
                    pending.clear()
                if len(results) == len(groups):
                    break
        return [results[i] for i in range(len(groups))]
    finally:
        stop.set()
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            await loop.run_in_executor(None, process.join, 10)


def _pump(index: int, receive: Connection, loop: asyncio.AbstractEventLoop,
          inbox: asyncio.Queue[tuple[int, Any]], stop: threading.Event) -> None:
    """Blocking reads of one worker's pipe, handed to the event loop; waits while the inbox is full
    (so a slow server slows the workers down instead of filling memory) and gives up once `stop` is set."""
    try:
        while not stop.is_set():
            try:
                message = receive.recv()
                if message[0] == "slices":  # its data follows as raw bytes
                    message = (*message, receive.recv_bytes())
            except (EOFError, OSError):
                message = ("eof",)
            future = asyncio.run_coroutine_threadsafe(inbox.put((index, message)), loop)
            while True:
                try:
                    future.result(timeout=0.5)
                    break
                except concurrent.futures.TimeoutError:
                    if stop.is_set():
                        future.cancel()
                        return
            if message[0] in ("done", "error", "eof"):
                return
    except RuntimeError:  # the event loop is closed: nobody is listening any more
        return
    finally:
        receive.close()
