"""AlertWorker edge cases: executor timeouts, bad outcomes, stopping."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ManualClock
from core.enums import AlertStatus
from tests.integration.webhook_http.support import START, Harness, alert_body
from webhook.alerts.worker import AlertOutcome, AlertWorker, StoredAlert


class HangingExecutor:
    def __init__(self) -> None:
        self.calls = 0

    async def execute(self, alert: StoredAlert) -> AlertOutcome:
        self.calls += 1
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
