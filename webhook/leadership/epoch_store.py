"""The leader epoch in `leadership_state` and its history in `leadership_events` (migration 0010).

The takeover bump and its event are one transaction. The fence query is run by the order manager
inside the transaction that writes the order row (see fence.py).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# FOR SHARE: a takeover's bump (UPDATE) waits for an order transaction that already read the old
# epoch, so an order row is either committed before the bump (the new leader sees it) or refused.
# set_config(…, true) bounds, for this transaction only, how long a paused process can sit on
# that share lock (it would hold up a takeover). One round trip for both.
FENCE_SQL = text("SELECT epoch, set_config('idle_in_transaction_session_timeout', :ms, true) "
                 "FROM leadership_state WHERE role = :role FOR SHARE")

async def take_over(conn: asyncpg.Connection, role: str, holder: str, at: datetime, *,
                    lock_timeout_ms: int, details: dict[str, Any] | None = None) -> tuple[int, str | None]:
    """Bump the epoch for `holder` and record the event; returns (new epoch, previous holder)."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        previous = await conn.fetchrow(
            "SELECT epoch, holder FROM leadership_state WHERE role = $1 FOR UPDATE", role)
        epoch = 1 if previous is None else int(previous["epoch"]) + 1
        await conn.execute(
            """INSERT INTO leadership_state (role, epoch, holder, since, updated_at) VALUES ($1, $2, $3, $4, now())
               ON CONFLICT (role) DO UPDATE SET epoch = EXCLUDED.epoch, holder = EXCLUDED.holder,
                   since = EXCLUDED.since, updated_at = now()""",
            role, epoch, holder, at)
        prev_holder = None if previous is None else str(previous["holder"])
        await record_event(conn, role, epoch, "takeover", holder, at, previous_holder=prev_holder, details=details)
    return epoch, prev_holder


async def record_event(conn: asyncpg.Connection, role: str, epoch: int, event: str, holder: str, at: datetime, *,
                       previous_holder: str | None = None, details: dict[str, Any] | None = None) -> None:
    await conn.execute(
        """INSERT INTO leadership_events (role, epoch, event, holder, previous_holder, at, details)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)""",
        role, epoch, event, holder, previous_holder, at, json.dumps(details or {}))


async def current_epoch(conn: asyncpg.Connection, role: str) -> int | None:
    value = await conn.fetchval("SELECT epoch FROM leadership_state WHERE role = $1", role)
    return None if value is None else int(value)


async def fenced_epoch(session: AsyncSession, role: str, idle_timeout_ms: int) -> int | None:
    """The current epoch, share-locked until the caller's transaction ends."""
    row = (await session.execute(FENCE_SQL.bindparams(role=role, ms=str(int(idle_timeout_ms))))).first()
    return None if row is None else int(row[0])
