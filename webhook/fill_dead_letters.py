"""Fills that could not be recorded: kept raw with their error, and treated as an emergency.

When FillRecorder's bounded retries are spent, the fill is parked here (`fill_dead_letters`): the
exchange's fill and order as the exchange reported them, the error, and how often it failed. While
a product has a parked fill, new entries in it are refused (its position is unknown), the user is
notified again and again (the Notifier's min interval), /health is not ready and the dashboard shows
it. The live paths do not retry a parked order on their own — that is what turned the original
failure into a silent crash loop — `python main.py fills retry` records it once the cause is fixed
(webhook/ops_cli.py); the daemon notices and reloads its FIFO books from the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, parse_rfc3339
from core.enums import OrderStatus, Side
from core.logging import get_logger
from exchange.models import Fill, Order, OrderKind
from risk.rules import RiskVerdict

log = get_logger(__name__)

TOPIC = "fill_unrecorded"
WATCH_INTERVAL_S = 5.0
# SQLSTATE classes of a database that is away or busy (connection, resources, operator intervention,
# serialization/deadlock, lock timeout, system error): the fill is fine, the recording is retried
# by the fill path and the reconciler as before. Any other SQLSTATE is the database refusing this fill.
TRANSIENT_SQLSTATES = ("08", "40", "53", "57", "58", "55P03")


def is_refusal(exc: BaseException) -> bool:
    """Did the database refuse the write itself (a constraint, a trigger, bad data), as opposed to
    being unreachable? Only a refusal is dead-lettered; an outage is waited out. Pure."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        error = todo.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(code, str) and len(code) == 5:
            return not code.startswith(TRANSIENT_SQLSTATES)
        todo += [getattr(error, "orig", None), error.__cause__, error.__context__]
    return False


# ---- the exchange's values as JSON and back (exact Decimals, aware datetimes, enums by value) -------
def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def to_json(value: Fill | Order) -> dict[str, Any]:
    return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}


_DECIMALS = {"price", "size", "commission", "base_size", "quote_size", "limit_price", "stop_price", "filled_size",
             "average_filled_price", "filled_value", "total_fees"}
_TIMES = {"trade_time", "sequence_timestamp", "created_time"}


def _typed(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is not None and key in _DECIMALS:
            value = Decimal(value)
        elif value is not None and key in _TIMES:
            value = parse_rfc3339(value) if value.endswith("Z") else datetime.fromisoformat(value)
        elif key == "side":
            value = Side(value)
        elif key == "status":
            value = OrderStatus(value)
        elif key == "kind" and value is not None:
            value = OrderKind(value)
        out[key] = value
    return out


def fill_from_json(data: dict[str, Any]) -> Fill:
    return Fill(**_typed(data))


def order_from_json(data: dict[str, Any]) -> Order:
    return Order(**_typed(data))


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    trade_id: str
    order_id: str
    symbol: str
    error: str
    attempts: int
    first_failed_at: datetime


_UPSERT = text("""
INSERT INTO fill_dead_letters (trade_id, order_id, symbol, raw_fill, raw_order, error, attempts,
                               first_failed_at, last_failed_at)
VALUES (:trade_id, :order_id, :symbol, CAST(:raw_fill AS jsonb), CAST(:raw_order AS jsonb), :error, :attempts,
        :now, :now)
ON CONFLICT (trade_id) DO UPDATE SET
    raw_order = excluded.raw_order, error = excluded.error, last_failed_at = excluded.last_failed_at,
    attempts = fill_dead_letters.attempts + excluded.attempts, resolved_at = NULL, resolved_via = NULL
""")
_OPEN = text("""SELECT trade_id, order_id, symbol, error, attempts, first_failed_at FROM fill_dead_letters
                WHERE resolved_at IS NULL ORDER BY first_failed_at, trade_id""")


async def open_dead_letters(session: AsyncSession) -> list[DeadLetter]:
    return [DeadLetter(*row) for row in (await session.execute(_OPEN)).all()]


class DeadLetters:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], notifier: Any, clock: Clock) -> None:
        self._sessions = sessions
        self._notifier = notifier
        self._clock = clock
        self._open: dict[str, DeadLetter] = {}  # trade_id → parked fill
        self._unsaved: list[tuple[Order, Fill, str, int]] = []  # parked while the database refused even this
        self._on_resolved: list[Callable[[list[DeadLetter]], Any]] = []

    def on_resolved(self, callback: Callable[[list[DeadLetter]], Any]) -> None:
        """Called (awaited if it returns an awaitable) when parked fills were recorded elsewhere."""
        self._on_resolved.append(callback)

    async def load(self) -> None:
        async with self._sessions() as session:
            self._open = {d.trade_id: d for d in await open_dead_letters(session)}
        if self._open:
            log.error("fills_dead_lettered_at_start", count=len(self._open), symbols=self.blocked_symbols())

    # ---- questions the daemon asks ------------------------------------------------------------
    def holds(self, order_id: str) -> bool:
        return any(d.order_id == order_id for d in self._open.values())

    def blocked_symbols(self) -> list[str]:
        return sorted({d.symbol for d in self._open.values()})

    def problems(self) -> list[str]:
        return [f"fills_unrecorded:{symbol}" for symbol in self.blocked_symbols()]

    def summary(self) -> list[dict[str, Any]]:
        return [{"trade_id": d.trade_id, "order_id": d.order_id, "symbol": d.symbol, "error": d.error[:300],
                 "attempts": d.attempts, "since": d.first_failed_at.isoformat()} for d in self._open.values()]

    # ---- parking --------------------------------------------------------------------------------
    async def park(self, order: Order, fills: Sequence[Fill], error: BaseException, attempts: int) -> None:
        message = f"{type(error).__name__}: {error}"[:2000]
        now = self._clock.now()
        for fill in fills:
            previous = self._open.get(fill.trade_id)
            self._open[fill.trade_id] = DeadLetter(fill.trade_id, order.order_id, order.product_id, message,
                                                   attempts, previous.first_failed_at if previous else now)
        try:
            await self._write(order, fills, message, attempts)
        except Exception as exc:  # the database refuses this too: keep it in memory, write it later
            log.error("fill_dead_letter_unsaved", order_id=order.order_id, error=repr(exc))
            self._unsaved.extend((order, f, message, attempts) for f in fills)
        log.error("fill_dead_lettered", order_id=order.order_id, symbol=order.product_id,
                  trade_ids=[f.trade_id for f in fills], attempts=attempts, error=message)
        await self._notify()

    async def _write(self, order: Order, fills: Sequence[Fill], message: str, attempts: int) -> None:
        async with self._sessions() as session, session.begin():
            for fill in fills:
                await session.execute(_UPSERT, {
                    "trade_id": fill.trade_id, "order_id": order.order_id, "symbol": order.product_id,
                    "raw_fill": json.dumps(to_json(fill)), "raw_order": json.dumps(to_json(order)),
                    "error": message, "attempts": attempts, "now": self._clock.now()})

    async def _notify(self) -> None:
        if not self._open:
            return
        symbols = ", ".join(self.blocked_symbols())
        await self._notifier.notify(
            TOPIC, f"{len(self._open)} fill(s) of {symbols} could not be recorded; new {symbols} entries are "
            "halted. Fix the cause (see the logs and the fill_dead_letters table), then run "
            "`python main.py fills retry`.")

    # ---- the watch loop -----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, interval_s: float = WATCH_INTERVAL_S) -> None:
        """Re-notify while anything is parked; notice fills recorded by `fills retry`."""
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception as exc:  # the database is away: its own health check says so; try again
                log.warning("fill_dead_letters_check_failed", error=repr(exc))
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                pass

    async def refresh(self) -> None:
        if self._unsaved:
            pending, self._unsaved = self._unsaved, []
            for order, fill, message, attempts in pending:
                try:
                    await self._write(order, [fill], message, attempts)
                except Exception:
                    self._unsaved.append((order, fill, message, attempts))
        async with self._sessions() as session:
            stored = {d.trade_id: d for d in await open_dead_letters(session)}
        unsaved = {f.trade_id for _o, f, _m, _a in self._unsaved}
        resolved = [d for t, d in self._open.items() if t not in stored and t not in unsaved]
        self._open = stored | {t: d for t, d in self._open.items() if t in unsaved}
        if resolved:
            log.info("fill_dead_letters_resolved", trade_ids=[d.trade_id for d in resolved])
            for callback in self._on_resolved:
                result = callback(resolved)
                if asyncio.iscoroutine(result):
                    await result
            if not self._open:
                self._notifier.clear(TOPIC)
        await self._notify()


class DeadLetterEntryGate:
    """The entry check with one more rule: no new entry in a product whose fills are not all recorded."""

    def __init__(self, inner: Any, dead_letters: DeadLetters) -> None:
        self._inner = inner
        self._dead = dead_letters

    async def check_entry(self, symbol: str, notional: Decimal, account_value: Decimal,
                          quote_age_s: float | None, *, state_rows: Sequence[Sequence[Any]] | None = None) -> Any:
        if symbol in self._dead.blocked_symbols():
            reason = f"{symbol} has fills that could not be recorded; run `python main.py fills retry`"
            log.info("entry_blocked", symbol=symbol, reasons=[reason])
            return RiskVerdict(allowed=False, reasons=(reason,), reason_code="fills_unrecorded")
        return await self._inner.check_entry(symbol, notional, account_value, quote_age_s, state_rows=state_rows)
