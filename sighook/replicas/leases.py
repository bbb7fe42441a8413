"""Product leases: a session-level advisory lock per product on one dedicated connection.

A replica that dies (killed, host gone) loses its connection and with it every lease; the others
claim those products at their next cycle. Live replicas are counted by a per-replica lock.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

import asyncpg

from core.logging import get_logger
from shared_data.advisory_keys import NAMESPACE_SIGHOOK_PRODUCT, NAMESPACE_SIGHOOK_REPLICA, as_int4, object_key
from shared_data.db import to_plain_url
from sighook.replicas.share import plan_leases

log = get_logger(__name__)

PRODUCT_NS = as_int4(NAMESPACE_SIGHOOK_PRODUCT)
REPLICA_NS = as_int4(NAMESPACE_SIGHOOK_REPLICA)
TIMEOUT_S = 10.0

# pg_locks lists the whole server: only this database's holders are replicas of this deployment (another
# database on the same server, e.g. a second install or a test run, has replicas of its own).
_HOLDERS_SQL = """SELECT pid, objid::int4 AS obj FROM pg_locks
                  WHERE locktype = 'advisory' AND classid::int4 = $1 AND objsubid = 2 AND granted
                    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"""


class ProductLeases:
    def __init__(self, db_url: str, replica: str) -> None:
        self._url = to_plain_url(db_url)
        self.replica = replica
        self._conn: asyncpg.Connection | None = None
        self.held: set[str] = set()
        self.replicas = 1
        self.owned_by_others: set[str] = set()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self.held = set()  # a new session holds nothing
            self._conn = await asyncpg.connect(self._url, timeout=TIMEOUT_S, server_settings={
                # A vanished host is noticed by the server in ~30 s, and its leases freed.
                "tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3",
                "application_name": f"bottrader-sighook:{self.replica}"[:63]})
            await self._conn.execute("SELECT pg_advisory_lock($1, $2)", REPLICA_NS, object_key(self.replica))
        return self._conn

    async def claim(self, universe: list[str]) -> set[str]:
        """Re-balance for this cycle; returns the products this replica computes now."""
        async with asyncio.timeout(TIMEOUT_S):
            conn = await self._connection()
            rows = await conn.fetch(_HOLDERS_SQL, REPLICA_NS)
            self.replicas = max(1, len({r["pid"] for r in rows}))
            plan = plan_leases(self.replica, universe, self.held, self.replicas)
            for product in plan.release:
                await conn.execute("SELECT pg_advisory_unlock($1, $2)", PRODUCT_NS, object_key(product))
                self.held.discard(product)
            for product in plan.try_in_order:
                if len(self.held) >= plan.share:
                    break
                if await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", PRODUCT_NS, object_key(product)):
                    self.held.add(product)
            mine = await conn.fetchval("SELECT pg_backend_pid()")
            by_key = {object_key(p): p for p in universe}
            taken = await conn.fetch(_HOLDERS_SQL, PRODUCT_NS)
            self.owned_by_others = {by_key[r["obj"]] for r in taken if r["pid"] != mine and r["obj"] in by_key}
        log.info("sighook_leases", replica=self.replica, replicas=self.replicas, share=plan.share,
                 held=len(self.held), released=len(plan.release), others=len(self.owned_by_others))
        return set(self.held)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        self.held = set()
        if conn is not None and not conn.is_closed():
            with suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)
            if not conn.is_closed():
                conn.terminate()
