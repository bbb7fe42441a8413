"""Group commit for the alert endpoint: concurrent requests share one INSERT, one commit, one fsync.

A request hands its row to `AlertInbox.store` and waits until the statement holding it has
committed, so the reply is still sent only after the alert is durable — but one commit now covers
every alert that arrived while the previous one was in flight (a commit per request caps a busy
server at a few hundred alerts/s). A batch is one statement,
`INSERT … SELECT FROM unnest(<one array per column>) ON CONFLICT (dedup_key) DO NOTHING RETURNING
id, dedup_key`, run in autocommit on a connection the inbox keeps checked out of the engine's pool:
a single statement is its own transaction, so there is no BEGIN/COMMIT round trip and no pool
checkout per batch, and the statement text never changes (prepared once). A key already stored,
or repeated earlier in the same batch, comes back as None (a duplicate). If a batch fails for a
reason other than the connection, its rows are retried one by one so one bad row cannot fail the
others; on a broken connection the batch is retried once on a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from core.logging import get_logger
from webhook.alerts.repository import AlertRecord

log = get_logger(__name__)

# (column, SQL array type); values come from AlertRecord.values().
_COLUMNS = (
    ("dedup_key", "text"), ("source", "text"), ("status", "text"), ("received_at", "timestamptz"),
    ("symbol", "text"), ("action", "text"), ("size", "numeric"), ("quote_amount", "numeric"), ("price", "numeric"),
    ("timenow", "timestamptz"), ("strategy", "jsonb"), ("payload", "jsonb"), ("body_sha256", "text"),
    ("source_ip", "text"), ("status_reason", "text"), ("reason_code", "text"),
)
_JSON_COLUMNS = frozenset({"strategy", "payload"})
_INSERT = (
    f"INSERT INTO alerts ({', '.join(c for c, _ in _COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'${i}::{t}[]' for i, (_, t) in enumerate(_COLUMNS, start=1))}) "
    "ON CONFLICT (dedup_key) DO NOTHING RETURNING id, dedup_key"
)


@dataclass
class InboxStats:
    """Counters for benchmarks and diagnostics (not Prometheus: nothing here needs scraping)."""

    batches: int = 0
    rows: int = 0
    largest_batch: int = 0
    recent_flush_s: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))


class InboxUnavailable(Exception):
    """The inbox is closed or too far behind; the alert was not stored."""


class AlertInbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, max_batch: int = 500,
                 max_pending: int = 10_000, statement_timeout_s: float = 10.0) -> None:
        engine = sessions.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            raise TypeError("AlertInbox needs an async_sessionmaker bound to an AsyncEngine")
        self._engine = engine
        self._statement_timeout_s = statement_timeout_s
        self._conn: AsyncConnection | None = None
        self._driver: Any = None  # the asyncpg connection under self._conn
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._pending: list[tuple[AlertRecord, asyncio.Future[int | None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self.stats = InboxStats()

    async def store(self, record: AlertRecord) -> int | None:
        """Insert and commit; the new row id, or None when the dedup key already exists."""
        if self._closed:
            raise InboxUnavailable("inbox closed")
        if len(self._pending) >= self._max_pending:
            raise InboxUnavailable("too many alerts waiting for the database")
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        # Shielded: a caller that stops waiting (timeout) must not cancel the rest of the batch.
        return await asyncio.shield(future)

    async def close(self) -> None:
        """Stop taking rows; wait for the rows already handed over."""
        self._closed = True
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        await self._drop_connection(invalidate=False)

    async def _flush_all(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            await self._flush(batch)

    async def _flush(self, batch: list[tuple[AlertRecord, asyncio.Future[int | None]]], *,
                     retried: bool = False) -> None:
        records = [record for record, _ in batch]
        try:
            driver = await self._connection()
        except asyncio.CancelledError:
            _fail(batch, InboxUnavailable("cancelled"))
            raise
        except Exception as exc:
            log.error("alert_inbox_connect_failed", error=type(exc).__name__)
            _fail(batch, exc)
            return
        started = time.perf_counter()
        try:
            ids = await self._insert(driver, records)
        except asyncio.CancelledError:
            _fail(batch, InboxUnavailable("cancelled"))
            await self._drop_connection(invalidate=True)
            raise
        except Exception as exc:
            if _is_connection_error(exc) or driver.is_closed():
                log.error("alert_inbox_connection_lost", error=type(exc).__name__, retrying=not retried)
                await self._drop_connection(invalidate=True)
                if not retried:
                    # Once, on a new connection (server restart, idle connection cut). Safe: rows the lost
                    # statement did commit now conflict and come back as duplicates, never twice.
                    await self._flush(batch, retried=True)
                else:
                    _fail(batch, exc)
                return
            if len(batch) == 1:
                _fail(batch, exc)
                return
            log.warning("alert_batch_failed_retrying_singly", rows=len(batch), error=type(exc).__name__)
            for item in batch:
                await self._flush([item])
            return
        self._count(len(batch), time.perf_counter() - started)
        for (_, future), alert_id in zip(batch, ids, strict=True):
            if not future.done():
                future.set_result(alert_id)

    def _count(self, rows: int, seconds: float) -> None:
        stats = self.stats
        stats.batches += 1
        stats.rows += rows
        stats.largest_batch = max(stats.largest_batch, rows)
        stats.recent_flush_s.append(seconds)

    async def _connection(self) -> Any:
        if self._driver is None or self._driver.is_closed():
            await self._drop_connection(invalidate=True)
            conn = await self._engine.connect()
            try:
                raw = await conn.get_raw_connection()
                self._driver = raw.driver_connection
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._driver

    async def _drop_connection(self, *, invalidate: bool) -> None:
        conn, self._conn, self._driver = self._conn, None, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            if invalidate:
                await conn.invalidate()
            await conn.close()

    async def _insert(self, driver: Any, records: Sequence[AlertRecord]) -> list[int | None]:
        first_of: dict[str, int] = {}
        for index, record in enumerate(records):
            first_of.setdefault(record.dedup_key, index)
        unique = [records[i].values() for i in sorted(first_of.values())]
        # Autocommit: the statement is its own transaction; when fetch returns, the rows are committed.
        rows = await driver.fetch(_INSERT, *_as_arrays(unique), timeout=self._statement_timeout_s)
        inserted = {row["dedup_key"]: row["id"] for row in rows}
        return [
            inserted.get(record.dedup_key) if first_of[record.dedup_key] == index else None
            for index, record in enumerate(records)
        ]


def _as_arrays(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    arrays = []
    for column, _ in _COLUMNS:
        values = [row[column] for row in rows]
        if column in _JSON_COLUMNS:
            values = [None if v is None else json.dumps(v) for v in values]
        arrays.append(values)
    return arrays


def _fail(batch: Sequence[tuple[AlertRecord, asyncio.Future[int | None]]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
            future.exception()  # marks it retrieved: a caller that already timed out logs nothing


def _is_connection_error(exc: Exception) -> bool:
    return isinstance(exc, OSError | ConnectionError | TimeoutError | asyncpg.InterfaceError
                      | asyncpg.PostgresConnectionError)
