"""A replay's database is a copy of a migrated template: at the migrations' head, built once, rebuilt
when it vanished (another checkout's build dropped it), stale templates dropped when a new one is built,
and concurrent runs (a sweep's workers) all get their copy."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from replay import database
from shared_data import migrate
from shared_data.db import drop_database, to_plain_url, with_database


async def _exists(server: str, name: str) -> bool:
    conn = await asyncpg.connect(to_plain_url(with_database(server, "postgres")), timeout=10)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(to_plain_url(with_database(server, "postgres")), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_copies_are_at_head_and_a_vanished_template_is_rebuilt(pg_server_url: str) -> None:
    template = database.template_name()
    assert template.startswith(database.TEMPLATE_PREFIX) and template == database.template_name()
    names = [f"bt_test_replay_db_{uuid.uuid4().hex[:8]}" for _ in range(4)]
    stale = database.TEMPLATE_PREFIX + "0" * 16  # as if built by an older checkout
    try:
        await _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        await _admin(pg_server_url, f'CREATE DATABASE "{stale}"')
        # Three runs at once (a sweep's workers): one builds the template, all get a copy.
        urls = await asyncio.gather(*(database.copy_of_template(pg_server_url, n) for n in names[:3]))
        assert await _exists(pg_server_url, template)
        assert not await _exists(pg_server_url, stale)  # dropped with the new build
        for url in urls:
            assert await migrate.current_revision(url) == migrate.head_revision()
        # A copy's rows are its own: a write to one does not reach the template or the others.
        conn = await asyncpg.connect(to_plain_url(urls[0]), timeout=10)
        try:
            await conn.execute("INSERT INTO risk_state (breaker, tripped) VALUES ('probe', false)")
        finally:
            await conn.close()
        conn = await asyncpg.connect(to_plain_url(urls[1]), timeout=10)
        try:
            assert await conn.fetchval("SELECT count(*) FROM risk_state WHERE breaker = 'probe'") == 0
        finally:
            await conn.close()
        # The template vanished (another checkout rebuilt its own): the next copy builds it again.
        await _admin(pg_server_url, f'DROP DATABASE "{template}" WITH (FORCE)')
        url = await database.copy_of_template(pg_server_url, names[3])
        assert await migrate.current_revision(url) == migrate.head_revision()
        # The same name again: dropped and copied afresh (a replay of the same data and settings).
        await database.copy_of_template(pg_server_url, names[0])
        conn = await asyncpg.connect(to_plain_url(urls[0]), timeout=10)
        try:
            assert await conn.fetchval("SELECT count(*) FROM risk_state WHERE breaker = 'probe'") == 0
        finally:
            await conn.close()
    finally:
        for name in [*names, stale]:
            await drop_database(pg_server_url, name)
