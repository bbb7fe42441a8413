"""The `shared_data` table: what sighook publishes and webhook reads (the buy_sell_matrix, tickers).

Writer side: `publish(session, data_type, payload)` upserts the row and NOTIFYs
`shared_data_changed` with the data_type in the same transaction, so a listener is told exactly
when the new row is committed. Reader side: `SharedStateListener` keeps the latest `market_data`
in memory (LISTEN on a dedicated connection, a 60 s poll as a fallback, reconnect with backoff) and
answers `signal(symbol)` without I/O. A matrix older than `matrix_max_age_s` counts as absent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import asyncpg
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock, SystemClock, parse_rfc3339
from core.logging import get_logger
from core.metrics import MATRIX_UPDATED
from core.money import fmt, to_decimal
from market_data.ports import SignalView
from shared_data.db import to_plain_url
from shared_data.models import SharedData

log = get_logger(__name__)

CHANNEL = "shared_data_changed"
MARKET_DATA = "market_data"  # data_type of the row holding the buy_sell_matrix and tickers
MARKET_DATA_SCHEMA_VERSION = 1
LISTENER_APPLICATION_NAME = "bottrader-shared-state-listener"  # visible in pg_stat_activity


# ---- JSON safety -------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Decimal → plain string, datetime → RFC 3339 UTC, Enum → value; refuses floats in money's place.

    Floats are allowed (JSON numbers), but NaN/inf are not valid JSON and are refused.
    """
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"non-finite Decimal {value!r} cannot be published")
        return fmt(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime cannot be published")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN/inf cannot be published")
    return value


# ---- repository --------------------------------------------------------------------------------


async def publish(session: AsyncSession, data_type: str, payload: Mapping[str, Any]) -> None:
    """Upsert `data_type` and NOTIFY its name; both take effect when the caller's transaction commits."""
    data = jsonable(payload)
    stmt = insert(SharedData).values(data_type=data_type, data=data)
    stmt = stmt.on_conflict_do_update(index_elements=[SharedData.data_type],
                                      set_={"data": stmt.excluded.data, "updated_at": func.now()})
    await session.execute(stmt)
    await session.execute(text("SELECT pg_notify(:channel, :data_type)"),
                          {"channel": CHANNEL, "data_type": data_type})


async def load(session: AsyncSession, data_type: str) -> dict[str, Any] | None:
    """The stored payload of `data_type`, or None."""
    found = await session.scalar(select(SharedData.data).where(SharedData.data_type == data_type))
    return dict(found) if found is not None else None


async def load_with_time(session: AsyncSession, data_type: str) -> tuple[dict[str, Any], datetime] | None:
    row = (await session.execute(select(SharedData.data, SharedData.updated_at)
                                 .where(SharedData.data_type == data_type))).first()
    return (dict(row[0]), row[1]) if row is not None else None


def market_data_payload(matrix: Mapping[str, Any], tickers: Mapping[str, Any],
                        published_at: datetime) -> dict[str, Any]:
    """The `market_data` envelope: the matrix (already in its own schema) and last tickers."""
    return {
        "schema_version": MARKET_DATA_SCHEMA_VERSION,
        "published_at": published_at,
        "buy_sell_matrix": dict(matrix),
        "tickers": dict(tickers),
    }


# ---- reader side -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Parsed `market_data`: what the webhook side needs, ready for lookups without I/O."""

    computed_at: datetime  # when sighook computed the matrix (its clock)
    signals: dict[str, SignalView]
    payload: dict[str, Any]  # the whole stored document, for health/dashboard

    @property
    def matrix(self) -> dict[str, Any]:
        found = self.payload.get("buy_sell_matrix")
        return found if isinstance(found, dict) else {}


def parse_market_data(payload: Mapping[str, Any]) -> MarketSnapshot:
    """Raises ValueError for a payload of another schema version or shape."""
    if payload.get("schema_version") != MARKET_DATA_SCHEMA_VERSION:
        raise ValueError(f"unsupported market_data schema_version {payload.get('schema_version')!r}")
    matrix = payload.get("buy_sell_matrix")
    if not isinstance(matrix, Mapping):
        raise ValueError("market_data has no buy_sell_matrix")
    try:
        computed_at = parse_rfc3339(str(matrix["computed_at"]))
        signals: dict[str, SignalView] = {}
        for pid, row in dict(matrix.get("rows", {})).items():
            # as_of = when the row was computed (the sentinel's freshness test uses it).
            atr = row.get("atr")
            signals[str(pid).upper()] = SignalView(sell=row.get("decision") == "sell",
                                                   atr=to_decimal(atr) if atr is not None else None,
                                                   as_of=computed_at)
    except (KeyError, TypeError, AttributeError, ArithmeticError, ValueError) as exc:
        raise ValueError(f"malformed market_data: {exc!r}") from None
    return MarketSnapshot(computed_at, signals, dict(payload))


@dataclass(slots=True)
class ListenerHealth:
    connected: bool = False
    matrix_present: bool = False
    matrix_stale: bool = False
    matrix_age_s: float | None = None
    last_reload_at: datetime | None = None
    reloads: int = 0
    notifications: int = 0
    reconnects: int = 0
    last_error: str | None = None


class SharedStateListener:
    """Keeps the latest `market_data` in memory for the webhook process.

    A dedicated asyncpg connection LISTENs on `shared_data_changed` and reloads at once when the
    watched data_type is notified; a poll every `poll_interval_s` covers lost notifications; a
    dropped connection is reopened with jittered exponential backoff. Lookups never do I/O.
    """

    def __init__(self, db_url: str, *, matrix_max_age_s: float, data_type: str = MARKET_DATA,
                 poll_interval_s: float = 60.0, connect_timeout_s: float = 10.0, query_timeout_s: float = 10.0,
                 backoff_base_s: float = 0.5, backoff_max_s: float = 30.0, clock: Clock | None = None) -> None:
        self._url = to_plain_url(db_url)
        self.matrix_max_age_s = matrix_max_age_s
        self.data_type = data_type
        self.poll_interval_s = poll_interval_s
        self._connect_timeout_s = connect_timeout_s
        self._query_timeout_s = query_timeout_s
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._clock = clock or SystemClock()
        self._snapshot: MarketSnapshot | None = None
        self._conn: asyncpg.Connection | None = None
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._version = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.health_state = ListenerHealth()

    # -- lifecycle --

    async def start(self) -> None:
        """Start listening in the background (returns at once; the first load happens in the task)."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="shared_state_listener")

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    async def __aenter__(self) -> SharedStateListener:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # -- lookups (no I/O) --

    @property
    def version(self) -> int:
        """Increments on every successful reload."""
        return self._version

    def age_s(self) -> float | None:
        if self._snapshot is None:
            return None
        return (self._clock.now() - self._snapshot.computed_at).total_seconds()

    def is_stale(self) -> bool:
        age = self.age_s()
        return age is None or age > self.matrix_max_age_s

    def snapshot(self) -> MarketSnapshot | None:
        """The latest market data, or None when absent or older than matrix_max_age_s."""
        return None if self.is_stale() else self._snapshot

    def latest_unchecked(self) -> MarketSnapshot | None:
        """The latest market data even when stale (dashboards; never for trading decisions)."""
        return self._snapshot

    def signal(self, symbol: str) -> SignalView | None:
        """`SignalSource` for the exit sentinel: the symbol's row, or None when absent or stale."""
        snap = self.snapshot()
        return None if snap is None else snap.signals.get(symbol.upper())

    def health(self) -> dict[str, Any]:
        h = self.health_state
        age = self.age_s()
        h.matrix_present = self._snapshot is not None
        h.matrix_age_s = None if age is None else round(age, 3)
        h.matrix_stale = self.is_stale()
        return {
            "connected": h.connected, "matrix_present": h.matrix_present, "matrix_stale": h.matrix_stale,
            "matrix_age_s": h.matrix_age_s, "matrix_max_age_s": self.matrix_max_age_s,
            "last_reload_at": jsonable(h.last_reload_at), "reloads": h.reloads, "notifications": h.notifications,
            "reconnects": h.reconnects, "last_error": h.last_error,
        }

    async def wait_for_version(self, after: int, timeout: float) -> int:
        """Wait until a reload newer than `after` lands; returns the new version (TimeoutError otherwise)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self._version > after)
            return self._version

    # -- the background task --

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                await self._connect()
                attempt = 0
                await self._reload("connect")
                await self._serve()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                self.health_state.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("shared_state_listener_disconnected", error=self.health_state.last_error)
            except Exception as exc:  # never let the listener die: the webhook relies on it
                self.health_state.last_error = f"{type(exc).__name__}: {exc}"
                log.error("shared_state_listener_error", error=self.health_state.last_error, exc_info=True)
            await self._close()
            if self._stopping.is_set():
                break
            attempt += 1
            self.health_state.reconnects += 1
            delay = min(self._backoff_max_s, self._backoff_base_s * 2 ** min(attempt - 1, 16))
            delay *= random.uniform(0.5, 1.0)  # jitter: many processes must not reconnect in step
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._url, timeout=self._connect_timeout_s,
                                     server_settings={"application_name": LISTENER_APPLICATION_NAME})
        self._conn = conn
        await conn.add_listener(CHANNEL, self._on_notify)
        self.health_state.connected = True
        log.info("shared_state_listener_connected", channel=CHANNEL, data_type=self.data_type)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.health_state.notifications += 1
        if payload == self.data_type:
            self._wake.set()

    async def _serve(self) -> None:
        """Reload on notification or every poll interval; notice a dropped connection within a second."""
        next_poll = time.monotonic() + self.poll_interval_s
        while not self._stopping.is_set():
            conn = self._conn
            if conn is None or conn.is_closed():
                raise ConnectionError("listener connection closed")
            timeout = max(0.0, min(1.0, next_poll - time.monotonic()))
            woke = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
                woke = True
            if self._stopping.is_set():
                return
            if woke:
                self._wake.clear()
                await self._reload("notify")
            elif time.monotonic() >= next_poll:
                await self._reload("poll")
            else:
                continue
            next_poll = time.monotonic() + self.poll_interval_s

    async def _reload(self, why: str) -> None:
        conn = self._conn
        if conn is None:
            return
        raw = await conn.fetchval("SELECT data::text FROM shared_data WHERE data_type = $1", self.data_type,
                                  timeout=self._query_timeout_s)
        if raw is None:
            return
        try:
            snapshot = parse_market_data(json.loads(raw))
        except ValueError as exc:
            # Keep the previous snapshot: a bad document must not erase a good one.
            self.health_state.last_error = str(exc)
            log.error("shared_state_bad_document", data_type=self.data_type, error=str(exc))
            return
        self._snapshot = snapshot
        MATRIX_UPDATED.set(snapshot.computed_at.timestamp())
        self.health_state.last_reload_at = self._clock.now()
        self.health_state.reloads += 1
        async with self._changed:
            self._version += 1
            self._changed.notify_all()
        log.debug("shared_state_reloaded", why=why, rows=len(snapshot.signals), version=self._version)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        self.health_state.connected = False
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=5.0)
