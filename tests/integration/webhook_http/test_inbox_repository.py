"""The group-commit inbox and the repository helpers, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.enums import AlertStatus
from tests.integration.webhook_http.support import START, clear_alerts
from webhook.alerts import repository
from webhook.alerts.inbox import AlertInbox, InboxUnavailable
from webhook.alerts.repository import AlertRecord, rejected_key


def _record(key: str, action: str = "buy") -> AlertRecord:
    return AlertRecord(dedup_key=key, source="tradingview", status=AlertStatus.ACCEPTED, received_at=START,
                       symbol="BTC-USD", action=action, quantity=Decimal("0.5"), payload={"ticker": "BTCUSD", "n": "1"})


async def test_concurrent_rows_share_batches_and_duplicates_come_back_as_none(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await clear_alerts(db_sessions)
    inbox = AlertInbox(db_sessions)
    try:
        keys = [f"k{i % 40}" for i in range(60)]  # 20 keys sent twice, concurrently
        ids = await asyncio.gather(*(inbox.store(_record(k)) for k in keys))
        again = await inbox.store(_record("k0"))
    finally:
        await inbox.close()
    stored = [i for i in ids if i is not None]
    assert len(stored) == 40 and len(set(stored)) == 40 and again is None
    assert inbox.stats.rows == 61 and inbox.stats.batches < 61  # rows were grouped into fewer commits
    async with db_sessions() as session:
        rows = await repository.rows_with_status(session, [AlertStatus.ACCEPTED])
    assert len(rows) == 40 and rows[0].size == Decimal("0.5") and rows[0].payload == {"ticker": "BTCUSD", "n": "1"}


async def test_one_bad_row_does_not_sink_its_batch(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    await clear_alerts(db_sessions)
    inbox = AlertInbox(db_sessions)
    bad = _record("bad", action="x" * 20)  # longer than the column allows
    try:
        results = await asyncio.gather(inbox.store(_record("good-1")), inbox.store(bad), inbox.store(_record("good-2")),
                                       return_exceptions=True)
    finally:
        await inbox.close()
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert isinstance(results[1], Exception)
    with pytest.raises(InboxUnavailable):
        await inbox.store(_record("after-close"))


async def test_purge_keeps_alerts_and_drops_old_refusal_records(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    await clear_alerts(db_sessions)
    inbox = AlertInbox(db_sessions)
    try:
        await inbox.store(_record("real"))
        await inbox.store(AlertRecord(rejected_key(), "unknown", AlertStatus.UNAUTHORIZED, START - timedelta(days=3)))
        await inbox.store(AlertRecord(rejected_key(), "unknown", AlertStatus.INVALID, START))
    finally:
        await inbox.close()
    async with db_sessions() as session, session.begin():
        assert await repository.purge_rejected(session, START - timedelta(days=1)) == 1
    async with db_sessions() as session:
        assert await repository.counts_by_status(session) == {"accepted": 1, "invalid": 1}


async def test_a_connection_cut_between_batches_is_replaced(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    await clear_alerts(db_sessions)
    inbox = AlertInbox(db_sessions)
    try:
        assert await inbox.store(_record("before")) is not None
        pid = inbox._driver.get_server_pid()  # the inbox's own connection
        async with db_sessions() as session, session.begin():
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert await inbox.store(_record("after")) is not None
        assert inbox._driver.get_server_pid() != pid
    finally:
        await inbox.close()
