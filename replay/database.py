"""A replay's own database: a copy of a migrated template, so a run (and each run of a sweep) does not
replay every migration.

The template `bt_replay_template_<hash>` is keyed on the migration files' contents: a changed or new
migration makes a new template, and templates of other keys are dropped when one is built. Checks,
builds and copies hold one advisory lock (a sweep's workers start together; checkouts of other
versions may share the server), and a template is migrated under a temporary name, renamed once done,
so a crash never leaves a half-migrated one behind.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from core.logging import get_logger
from core.settings import Settings
from shared_data import migrate
from shared_data.db import to_plain_url, with_database

log = get_logger(__name__)

TEMPLATE_PREFIX = "bt_replay_template_"
_BUILD_LOCK = 0x5E_91A7  # advisory lock key: one template build at a time per server


def template_name() -> str:
    """The template for the migrations in this checkout (their file names and contents)."""
    digest = hashlib.sha256()
    for path in sorted((migrate.ROOT / "migrations").rglob("*.py")):
        digest.update(str(path.relative_to(migrate.ROOT)).encode())
        digest.update(path.read_bytes())
    return TEMPLATE_PREFIX + digest.hexdigest()[:16]


@asynccontextmanager
async def fresh_database(settings: Settings, name: str) -> AsyncIterator[str]:
    """A new, migrated database `name` on DATABASE_URL's server (or the embedded one), dropped first."""
    from shared_data.server import server_url

    async with server_url(settings) as server:
        url = await copy_of_template(server, name)
        await migrate.set_view_timezone(url, settings.tax_timezone)
        yield url


async def copy_of_template(server: str, name: str) -> str:
    """Drop `name` if it exists and create it as a copy of the current template (built first if missing).

    The whole of it holds the build lock, so no other checkout's build can drop the template between
    the check and the copy (a copy takes a few tens of milliseconds)."""
    template = template_name()
    conn = await asyncpg.connect(to_plain_url(with_database(server, "postgres")), timeout=10)
    try:
        # A session-level lock, released when this connection closes (also on a crash).
        await asyncio.wait_for(conn.execute("SELECT pg_advisory_lock($1)", _BUILD_LOCK), timeout=300)
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", template):
            await _build(conn, server, template)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        # A replay's database is rebuilt by running the replay again: its commits need not wait for the WAL
        # to reach the disk (synchronous_commit=off changes durability after a crash, nothing else).
        await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    finally:
        await conn.close()
    return with_database(server, name)


async def _build(conn: asyncpg.Connection, server: str, template: str) -> None:
    """Migrate a new database under a temporary name, then name it `template`; drop other keys' templates."""
    building = f"{template}_build"
    await conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
    await conn.execute(f'CREATE DATABASE "{building}"')
    await migrate.upgrade(with_database(server, building))
    await conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
    log.info("replay_template_built", template=template)
    stale = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname <> $2",
                             TEMPLATE_PREFIX.replace("_", r"\_") + "%", template)
    for row in stale:
        await conn.execute(f'DROP DATABASE IF EXISTS "{row[0]}" WITH (FORCE)')
