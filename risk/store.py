"""The locked read-modify-write of risk_state rows, straight on the driver.

A breaker update (an exit's counters, a trip, a reset, the kill switch) locks its rows FOR UPDATE,
changes them in Python and writes them back in one transaction. Through an ORM session that was
four statements at ~340 µs of CPU each; here it is two (lock, write), at about a third of that
each, in an asyncpg transaction on a connection of the same engine pool. A changed row gets
`updated_at = now()` as the ORM's `onupdate` gave it; an unchanged row is not written, as the ORM's
flush skipped it. `swap` is the one-statement form for a writer that already knows the rows (an exit
that trips nothing): it writes only if they are still stored as it knew them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from risk.rules import Breaker
from shared_data import direct

# Locks in the breakers' order, here and in _SWAP: two writers of the same rows never wait for each other
# crosswise (a deadlock, one of them failed).
_LOCK = ("SELECT breaker, tripped, reason, details, tripped_at FROM risk_state "
         "WHERE breaker = ANY($1::varchar[]) ORDER BY breaker FOR UPDATE")
_CREATE = ("INSERT INTO risk_state (breaker, tripped) SELECT unnest($1::varchar[]), false "
           "ON CONFLICT (breaker) DO NOTHING")
# `details` only where it changed: a stored JSON null must not become SQL NULL by being rewritten.
_WRITE = (
    "UPDATE risk_state AS s SET tripped = v.tripped, reason = v.reason, tripped_at = v.tripped_at, "
    "details = CASE WHEN v.set_details THEN v.details ELSE s.details END, updated_at = now() "
    "FROM unnest($1::varchar[], $2::boolean[], $3::text[], $4::timestamptz[], $5::boolean[], $6::jsonb[]) "
    "AS v(breaker, tripped, reason, tripped_at, set_details, details) WHERE s.breaker = v.breaker"
)
# The same write without a lock read first: applied only if every row the change was computed from
# (`was_*`) still holds exactly those values, all rows or none. The rows are locked (FOR UPDATE, which
# under READ COMMITTED returns a concurrently committed newer version) before they are compared, and the
# UPDATE's own re-check then finds the version that was compared. `same` is false when any row differs
# (or is missing); then nothing is written and the caller takes the locked read-modify-write.
_SWAP = (
    "WITH v AS (SELECT * FROM unnest($1::varchar[], $2::boolean[], $3::text[], $4::jsonb[], $5::timestamptz[], "
    "$6::boolean[], $7::boolean[], $8::text[], $9::timestamptz[], $10::boolean[], $11::jsonb[]) "
    "AS v(breaker, was_tripped, was_reason, was_details, was_tripped_at, "
    "write, tripped, reason, tripped_at, set_details, details)), "
    "cur AS (SELECT breaker, tripped, reason, details, tripped_at FROM risk_state "
    "WHERE breaker = ANY($1::varchar[]) ORDER BY breaker FOR UPDATE), "
    "ok AS (SELECT count(*) = cardinality($1::varchar[]) AND coalesce(bool_and("
    "c.tripped IS NOT DISTINCT FROM v.was_tripped AND c.reason IS NOT DISTINCT FROM v.was_reason "
    "AND c.details IS NOT DISTINCT FROM v.was_details AND c.tripped_at IS NOT DISTINCT FROM v.was_tripped_at"
    "), false) AS same FROM cur AS c JOIN v ON c.breaker = v.breaker), "
    "w AS (UPDATE risk_state AS s SET tripped = v.tripped, reason = v.reason, tripped_at = v.tripped_at, "
    "details = CASE WHEN v.set_details THEN v.details ELSE s.details END, updated_at = now() "
    "FROM v WHERE s.breaker = v.breaker AND v.write AND (SELECT same FROM ok)) "
    "SELECT same FROM ok"
)
_EVENTS = ("INSERT INTO risk_events (breaker, event, reason, details) "
           "SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::text[], $4::jsonb[])")


@dataclass(slots=True)
class LockedRow:
    """A risk_state row as locked; its fields are changed in place and written back if they differ."""

    tripped: bool
    reason: str | None
    details: dict[str, Any] | None
    tripped_at: datetime | None
    _read: tuple[bool, str | None, dict[str, Any] | None, datetime | None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # A copy of details: the caller may replace it, never mutates it, but the snapshot must stay as read.
        self._read = (self.tripped, self.reason, dict(self.details) if self.details is not None else None,
                      self.tripped_at)

    @property
    def read(self) -> tuple[bool, str | None, dict[str, Any] | None, datetime | None]:
        """The row's values as read (tripped, reason, details, tripped_at)."""
        return self._read

    @property
    def details_changed(self) -> bool:
        return self.details != self._read[2]

    @property
    def changed(self) -> bool:
        return (self.tripped, self.reason, self.details, self.tripped_at) != self._read


@dataclass(frozen=True, slots=True)
class Event:
    """One risk_events row (trip or reset)."""

    breaker: Breaker
    event: str
    reason: str | None
    details: Mapping[str, Any]


async def locked_rows(driver: asyncpg.Connection, breakers: Iterable[Breaker]) -> dict[Breaker, LockedRow]:
    """The rows of `breakers`, created if missing, locked FOR UPDATE for the open transaction."""
    names = sorted({b.value for b in breakers})
    records = await driver.fetch(_LOCK, names)
    if len(records) < len(names):
        # Only on first use of a breaker: the insert of rows that already exist is skipped (one statement
        # fewer per update); a concurrent creator's row conflicts and the second lock read takes it.
        have = {r["breaker"] for r in records}
        await driver.execute(_CREATE, [n for n in names if n not in have])
        records = await driver.fetch(_LOCK, names)
    return {Breaker(r["breaker"]): LockedRow(r["tripped"], r["reason"], r["details"], r["tripped_at"])
            for r in records}


async def write(driver: asyncpg.Connection, rows: Mapping[Breaker, LockedRow], events: Sequence[Event]) -> None:
    """The changed rows in one UPDATE and the events in one INSERT (in their order), in the open transaction."""
    changed = [(b, r) for b, r in rows.items() if r.changed]
    if changed:
        await driver.execute(
            _WRITE, [b.value for b, _ in changed], [r.tripped for _, r in changed], [r.reason for _, r in changed],
            [r.tripped_at for _, r in changed], [r.details_changed for _, r in changed],
            [json.dumps(r.details) for _, r in changed])  # None → JSON null, as the ORM wrote it
    if events:
        await driver.execute(
            _EVENTS, [e.breaker.value for e in events], [e.event for e in events], [e.reason for e in events],
            [json.dumps(dict(e.details)) for e in events])


async def swap(sessions: async_sessionmaker[AsyncSession], rows: Mapping[Breaker, LockedRow]) -> bool:
    """Write the changed `rows` in one statement standing alone (it commits by itself) if every one of `rows`
    is still stored as it was read; False, and nothing written, if any is not. Events are not written
    here: a change that has any takes the locked path."""
    items = list(rows.items())
    was = [r.read for _, r in items]
    row = await direct.fetchrow(
        sessions, _SWAP, [b.value for b, _ in items], [w[0] for w in was], [w[1] for w in was],
        [None if w[2] is None else json.dumps(w[2]) for w in was],  # None as read: SQL NULL (a JSON null differs)
        [w[3] for w in was], [r.changed for _, r in items], [r.tripped for _, r in items],
        [r.reason for _, r in items], [r.tripped_at for _, r in items], [r.details_changed for _, r in items],
        [json.dumps(r.details) for _, r in items])
    return row is not None and row["same"] is True
