"""Two sighook replicas on one real PostgreSQL split the products through advisory-lock leases;
the published matrix always has every product's row; a dead replica's products are picked up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import load_settings
from shared_data.db import drop_database, unit_of_work
from shared_data.shared_state import MARKET_DATA, load
from sighook.entry_alerts import EntryAlerter
from sighook.loop import SighookCycle
from sighook.replicas.leases import ProductLeases
from tests.conftest import make_test_database
from tests.integration.sighook.support import SECRET, AlertRecorder, clear_tables
from tests.unit.sighook.memory_exchange import MemoryExchange

SHAPES = {"WAVE-USD": "wave", "RISE-USD": "rise", "CRASH-USD": "crash", "FLAT-USD": "flat", "WAVE2-USD": "wave"}


@pytest.fixture
async def recorder() -> AsyncIterator[AlertRecorder]:
    rec = await AlertRecorder().start()
    try:
        yield rec
    finally:
        await rec.stop()


def _replica(name: str, db_url: str, url: str, sessions: async_sessionmaker[AsyncSession]) -> SighookCycle:
    s = load_settings(webhook_secrets=SECRET, sighook_webhook_url=url, candle_history=300, sighook_stage_timeout_s=20.0)
    return SighookCycle(s, MemoryExchange(dict(SHAPES)), sessions, alerter=EntryAlerter(s, sessions),
                        leases=ProductLeases(db_url, name))


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> set[str]:
    async with unit_of_work(sessions) as session:
        payload = await load(session, MARKET_DATA)
    assert payload is not None
    return set(payload["buy_sell_matrix"]["rows"])


async def test_replicas_split_products_and_take_over_a_dead_ones(
        db_url: str, db_sessions: async_sessionmaker[AsyncSession], recorder: AlertRecorder) -> None:
    await clear_tables(db_sessions)
    a = _replica("replica-a", db_url, recorder.url, db_sessions)
    b = _replica("replica-b", db_url, recorder.url, db_sessions)
    assert a.leases is not None and b.leases is not None
    try:
        report = await a.run_once()
        assert report.error is None, report.error
        assert a.leases.held == set(SHAPES) and await _rows(db_sessions) == set(SHAPES)

        await b.run_once()  # joins: everything is held, it waits for A to hand some over
        assert b.leases.replicas == 2 and b.leases.held == set()
        assert await _rows(db_sessions) == set(SHAPES)  # B's publish kept A's rows
        await a.run_once()  # A sees two replicas: keeps its fair share (3 of 5), releases the rest
        assert len(a.leases.held) == 3
        await b.run_once()
        assert len(b.leases.held) == 2
        assert a.leases.held | b.leases.held == set(SHAPES) and not a.leases.held & b.leases.held
        assert await _rows(db_sessions) == set(SHAPES)
        assert report.matrix is not None

        # Each replica computed (and would alert on) only its own products in its last cycle.
        second = await a.run_once()
        assert second.matrix is not None and set(second.matrix.rows) <= a.leases.held
        assert await _rows(db_sessions) == set(SHAPES)

        await a.leases.close()  # replica A dies: its session ends, its leases with it
        await b.run_once()
        assert b.leases.replicas == 1 and b.leases.held == set(SHAPES)
        assert await _rows(db_sessions) == set(SHAPES)
    finally:
        await a.leases.close()
        await b.leases.close()
        await a.alerter.close()
        await b.alerter.close()


async def test_replicas_in_another_database_on_the_server_are_not_counted(
        db_url: str, db_sessions: async_sessionmaker[AsyncSession], recorder: AlertRecorder,
        pg_server_url: str) -> None:
    # pg_locks lists the whole server: another deployment's (or test run's) replica, in its own
    # database, leasing the same product names, must not take a share of this one's products.
    await clear_tables(db_sessions)
    name, other_url = await make_test_database(pg_server_url, migrated=False)
    stranger = ProductLeases(other_url, "replica-elsewhere")
    a = _replica("replica-a", db_url, recorder.url, db_sessions)
    assert a.leases is not None
    try:
        assert await stranger.claim(list(SHAPES)) == set(SHAPES)
        report = await a.run_once()
        assert report.error is None, report.error
        assert a.leases.replicas == 1 and a.leases.held == set(SHAPES) and a.leases.owned_by_others == set()
        assert await _rows(db_sessions) == set(SHAPES)
    finally:
        await stranger.close()
        await a.leases.close()
        await a.alerter.close()
        await drop_database(pg_server_url, name)
