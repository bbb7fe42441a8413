"""The leader lock: a session-level advisory lock on a dedicated connection.

PostgreSQL releases it when that connection ends, whatever the reason: the process was killed,
the host vanished, or (idle_session_timeout) the process stopped talking for `lease_s` — a
paused or partitioned leader loses the lock by itself, with no one having to kill it.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

import asyncpg

from core.logging import get_logger
from shared_data.advisory_keys import leader_key
from shared_data.db import to_plain_url
from webhook.leadership.lease import Heartbeat

log = get_logger(__name__)

HELD_SQL = """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
                               AND classid::int4 = $1 AND objid::int4 = $2 AND objsubid = 2 AND granted) AS held,
                     (SELECT epoch FROM leadership_state WHERE role = $3) AS epoch"""


class LeaderLock:
    def __init__(self, db_url: str, role: str, *, lease_s: float, holder: str, connect_timeout_s: float = 5.0) -> None:
        self._url = to_plain_url(db_url)
        self.role = role
        self._key = leader_key(role)
        self._lease_s = lease_s
        self._holder = holder
        self._connect_timeout_s = connect_timeout_s
        self.conn: asyncpg.Connection | None = None

    async def _connection(self) -> asyncpg.Connection:
        if self.conn is None or self.conn.is_closed():
            self.conn = await asyncpg.connect(
                self._url, timeout=self._connect_timeout_s,
                server_settings={
                    # The server ends this session (and frees the lock) after `lease_s` of silence.
                    "idle_session_timeout": str(int(self._lease_s * 1000)),
                    "statement_timeout": str(int(self._lease_s * 1000)),
                    "application_name": f"bottrader-{self.role}-lock:{self._holder}"[:63],
                })
        return self.conn

    async def try_acquire(self) -> bool:
        """One attempt; never waits for the lock. Connection errors propagate (the caller retries)."""
        conn = await self._connection()
        async with asyncio.timeout(self._lease_s):
            return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *self._key))

    async def heartbeat(self) -> Heartbeat | None:
        """Is the lock still ours, and what is the epoch now? None if the connection failed."""
        conn = self.conn
        if conn is None or conn.is_closed():
            return None
        try:
            async with asyncio.timeout(self._lease_s / 3):
                row = await conn.fetchrow(HELD_SQL, *self._key, self.role)
        except TimeoutError:  # slow, not gone: the session (and the lock) may well still be ours
            log.warning("leader_heartbeat_slow", timeout_s=round(self._lease_s / 3, 2))
            return None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("leader_heartbeat_failed", error=type(exc).__name__, session_ended=conn.is_closed())
            if conn.is_closed():  # only a session that has ended is given up; it holds nothing any more
                await self.close()
            return None
        assert row is not None
        return Heartbeat(lock_held=bool(row["held"]), epoch=None if row["epoch"] is None else int(row["epoch"]))

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None and not conn.is_closed():
            with suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)
            if not conn.is_closed():
                conn.terminate()
