"""AlertWorker edge cases: executor timeouts, bad outcomes, stopping, cancellation; insert_alert's two paths."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ManualClock
from core.enums import AlertStatus
from shared_data.db import single_statement
from tests.integration.webhook_http.support import START, Harness, RecordingExecutor, alert_body, clear_alerts
from webhook.alerts import repository
from webhook.alerts.repository import AlertRecord, insert_alert
from webhook.alerts.worker import AlertOutcome, AlertWorker, StoredAlert


class HangingExecutor:
    def __init__(self) -> None:
        self.calls = 0
        self.started = asyncio.Event()

    async def execute(self, alert: StoredAlert) -> AlertOutcome:
        self.calls += 1
        self.started.set()
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")


class ConfusedExecutor:
    async def execute(self, alert: StoredAlert) -> AlertOutcome:
        return AlertOutcome(AlertStatus.ACCEPTED, None, "cid-1", None)  # not an outcome an executor may report


async def test_a_hanging_executor_times_out_and_the_alert_is_failed(
    harness: Harness, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await harness.post("/webhook", alert_body(harness.clock))
    executor = HangingExecutor()
    worker = AlertWorker(db_sessions, executor, ManualClock(START), executor_timeout_s=0.05)
    assert await worker.process_one() is True
    [row] = await harness.rows()
    assert executor.calls == 1 and row.status == "failed" and "timed out" in row.status_reason


async def test_an_executor_reporting_a_non_final_status_is_recorded_as_failed(
    harness: Harness, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await harness.post("/webhook", alert_body(harness.clock))
    worker = AlertWorker(db_sessions, ConfusedExecutor(), ManualClock(START))
    assert await worker.process_one() is True
    [row] = await harness.rows()
    assert row.status == "failed" and row.client_order_id == "cid-1" and "accepted" in row.status_reason


async def test_run_returns_promptly_when_stopped(harness: Harness) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(harness.worker.run(stop))
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(task, timeout=10)  # a guard against hanging, not a timing assertion
    assert task.done() and task.exception() is None


async def test_a_worker_cancelled_mid_execution_leaves_the_alert_to_run_again(
    harness: Harness, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    # The claim, execution and outcome are one transaction on the driver: cancellation (a crash, a
    # shutdown) rolls it back, so the alert is still accepted with no attempt counted and runs again.
    await harness.post("/webhook", alert_body(harness.clock))
    executor = HangingExecutor()
    worker = AlertWorker(db_sessions, executor, ManualClock(START))
    task = asyncio.create_task(worker.process_one())
    await asyncio.wait_for(executor.started.wait(), timeout=10)  # a guard against hanging
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    [row] = await harness.rows()
    assert row.status == "accepted" and row.attempts == 0 and row.processed_at is None
    assert await harness.drain() == 1
    [row] = await harness.rows()
    assert row.status == "ordered" and row.attempts == 1 and row.processed_at is not None
    assert [a.attempts for a in harness.executor.calls] == [1]


async def test_insert_alert_stays_inside_a_transaction_the_session_has_not_begun_on_the_wire(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await clear_alerts(db_sessions)
    record = AlertRecord(dedup_key="tx-1", source="tradingview", status=AlertStatus.ACCEPTED, received_at=START,
                         symbol="BTC-USD", action="buy", price=Decimal("1.5"), strategy={"a": "1"}, payload={"b": 2})
    async with db_sessions() as session:
        await session.begin()
        assert await insert_alert(session, record) is not None
        await session.rollback()  # the row went in the session's transaction, not in autocommit
    async with db_sessions() as session:
        assert await repository.rows_with_status(session, list(AlertStatus)) == []
    async with single_statement(db_sessions) as session:  # autocommit: the driver path
        new_id = await insert_alert(session, record)
        assert new_id is not None and await insert_alert(session, record) is None  # a duplicate
    async with db_sessions() as session:
        [row] = await repository.rows_with_status(session, list(AlertStatus))
    assert (row.id, row.price, row.strategy, row.payload, row.received_at) == (
        new_id, Decimal("1.5"), {"a": "1"}, {"b": 2}, START)


async def test_insert_alert_stores_a_missing_strategy_alike_on_both_paths(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """No strategy: the driver path (autocommit) and the ORM path (a begun transaction) both store SQL NULL,
    as the endpoint's inbox does."""
    await clear_alerts(db_sessions)
    stored: list[str | None] = []  # per path: strategy IS NULL / payload IS NULL
    for key, autocommit in (("orm-none", False), ("driver-none", True)):
        record = AlertRecord(dedup_key=key, source="tradingview", status=AlertStatus.ACCEPTED, received_at=START,
                             symbol="BTC-USD", action="buy", strategy=None, payload=None)
        if autocommit:
            async with single_statement(db_sessions) as session:
                assert await insert_alert(session, record) is not None
        else:
            async with db_sessions() as session, session.begin():
                assert await insert_alert(session, record) is not None
        async with db_sessions() as session:
            stored.append((await session.execute(text(
                "SELECT (strategy IS NULL)::text || '/' || (payload IS NULL)::text FROM alerts WHERE dedup_key = :k"),
                {"k": key})).scalar_one_or_none())
    assert stored == ["true/true", "true/true"]


class PeekingExecutor(RecordingExecutor):
    """Records, while executing, what another connection's claim finds: it must not find the alert."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__()
        self._sessions = sessions
        self.others_claimed: list[bool] = []

    async def execute(self, alert: StoredAlert) -> AlertOutcome:
        other = AlertWorker(self._sessions, RecordingExecutor(), ManualClock(START))
        self.others_claimed.append(await other.process_one())
        return await super().execute(alert)


async def test_insert_and_process_stores_and_executes_as_insert_then_claim_does(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The replay's one-transaction delivery: the executor gets the alert a claim would give it (attempts 1),
    no other worker can take it meanwhile, the stored row is the one insert + process_one leaves, and a
    duplicate key is neither stored nor executed."""
    await clear_alerts(db_sessions)

    def record(key: str) -> AlertRecord:
        return AlertRecord(dedup_key=key, source="sighook", status=AlertStatus.ACCEPTED, received_at=START,
                           symbol="BTC-USD", action="buy", price=Decimal("1.5"), strategy={"a": "1"},
                           payload={"b": 2}, body_sha256="f" * 64, source_ip="replay")

    classic, folded = RecordingExecutor(), PeekingExecutor(db_sessions)
    async with single_statement(db_sessions) as session:
        assert await insert_alert(session, record("classic")) is not None
    assert await AlertWorker(db_sessions, classic, ManualClock(START)).process_one() is True
    worker = AlertWorker(db_sessions, folded, ManualClock(START))
    assert await worker.insert_and_process(record("folded")) is True
    assert folded.others_claimed == [False]
    assert await worker.insert_and_process(record("folded")) is False  # a duplicate
    assert await worker.insert_and_process(record("classic")) is False
    assert len(folded.calls) == 1 and len(classic.calls) == 1
    a, b = classic.calls[0], folded.calls[0]
    assert replace(a, id=0, dedup_key="") == replace(b, id=0, dedup_key="") and b.attempts == 1

    def comparable(row: Any) -> tuple[Any, ...]:
        return tuple(getattr(row, c.name) for c in row.__table__.columns
                     if c.name not in ("id", "dedup_key", "client_order_id", "order_id", "created_at", "updated_at"))

    async with db_sessions() as session:
        rows = {r.dedup_key: r for r in await repository.rows_with_status(session, list(AlertStatus))}
    assert set(rows) == {"classic", "folded"}
    assert comparable(rows["classic"]) == comparable(rows["folded"])
    assert rows["folded"].status == "ordered" and rows["folded"].order_id == f"order-{rows['folded'].id}"
