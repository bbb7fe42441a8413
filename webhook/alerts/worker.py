"""The alert worker: takes committed, accepted alerts oldest first and hands each to the executor.

Each alert is claimed with `SELECT … FOR UPDATE SKIP LOCKED` and its row stays locked while the
executor runs, so several workers never take the same alert. The outcome is written in the same
transaction. If the process dies mid-execution the row is still `accepted` and is executed again
after restart: the executor must derive its client_order_id from `StoredAlert.dedup_key` so the
exchange refuses a second order. An executor exception or timeout marks the alert failed; the loop
itself survives database errors with a bounded, jittered backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.enums import AlertStatus
from core.logging import get_logger
from core.metrics import ALERTS
from shared_data import direct
from webhook.alerts import repository
from webhook.alerts.contract import EXECUTOR_STATUSES, AlertExecutor, AlertOutcome, StoredAlert
from webhook.alerts.reasons import Reason
from webhook.alerts.repository import AlertRecord

__all__ = ["AlertExecutor", "AlertOutcome", "AlertWorker", "StoredAlert"]

log = get_logger(__name__)


class AlertWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        executor: AlertExecutor,
        clock: Clock,
        *,
        poll_interval_s: float = 2.0,
        executor_timeout_s: float = 120.0,
        max_queue_age_s: float | None = 300.0,
        backoff_max_s: float = 30.0,
    ) -> None:
        self._sessions = sessions
        self._executor = executor
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._executor_timeout_s = executor_timeout_s
        self._max_queue_age_s = max_queue_age_s
        self._backoff_max_s = backoff_max_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Called by the endpoint after it committed an accepted alert (safe from the event loop)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Process alerts until `stop` is set; woken by `wake()`, polling as a fallback."""
        log.info("alert_worker_started")
        failures = 0
        while not stop.is_set():
            # Cleared before looking, so a wake-up that arrives while we process is not lost.
            self._wake.clear()
            try:
                while not stop.is_set() and await self.process_one():
                    pass
                failures = 0
                delay = self._poll_interval_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(self._backoff_max_s, self._poll_interval_s * 2 ** min(failures, 10))
                delay *= random.uniform(0.5, 1.0)
                log.error("alert_worker_error", error=type(exc).__name__, failures=failures, retry_in_s=round(delay, 2))
            await self._sleep(stop, delay)
        log.info("alert_worker_stopped")

    async def _sleep(self, stop: asyncio.Event, delay: float) -> None:
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def process_one(self) -> bool:
        """Handle the oldest accepted alert; False when there is none."""
        return await self._execute_claimed(repository.claim_next)

    async def insert_and_process(self, record: AlertRecord) -> bool:
        """Store a new accepted alert and execute it in the same transaction, as `process_one` would
        once it is the only accepted alert (the replay's in-process delivery; the daemon's endpoint commits
        it first and wakes the worker). False when its dedup key already exists: nothing is done."""
        if record.status is not AlertStatus.ACCEPTED:
            raise ValueError(f"only an accepted alert is executed, not a {record.status.value} one")
        return await self._execute_claimed(lambda driver: repository.insert_claimed(driver, record))

    async def _execute_claimed(self, claim: Callable[[asyncpg.Connection], Awaitable[StoredAlert | None]]) -> bool:
        """One transaction on the driver (claim, execution, outcome): the claimed row stays locked while the
        executor runs, and the statements skip the ORM's per-statement cost. False when nothing was claimed."""
        async with direct.transaction(self._sessions) as driver:
            alert = await claim(driver)
            if alert is None:
                return False
            outcome = await self._outcome_for(alert)
            # The attempt is counted with the outcome, in the same transaction (one UPDATE, not two).
            await repository.record_outcome(driver, alert.id, outcome, self._clock.now(), alert.attempts)
        self._processed(alert, outcome)
        return True

    def _processed(self, alert: StoredAlert, outcome: AlertOutcome) -> None:
        ALERTS.labels(outcome=outcome.status.value).inc()
        log.info("alert_processed", alert_id=alert.id, symbol=alert.symbol, action=alert.action,
                 status=outcome.status.value, reason=outcome.reason, order_id=outcome.order_id)

    async def _outcome_for(self, alert: StoredAlert) -> AlertOutcome:
        if self._max_queue_age_s is not None:
            waited = self._clock.now() - alert.received_at
            if waited > timedelta(seconds=self._max_queue_age_s):
                return AlertOutcome(AlertStatus.STALE, f"waited {waited.total_seconds():.0f} s in the queue "
                                                       f"(limit {self._max_queue_age_s:g} s); not executed",
                                    code=Reason.QUEUED_TOO_LONG)
        try:
            async with asyncio.timeout(self._executor_timeout_s):
                outcome = await self._executor.execute(alert)
        except TimeoutError:
            return AlertOutcome(AlertStatus.FAILED, f"executor timed out after {self._executor_timeout_s:g} s; "
                                                    "order state unknown, see reconciliation",
                                code=Reason.EXECUTOR_ERROR)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("alert_executor_error", alert_id=alert.id, error=type(exc).__name__)
            return AlertOutcome(AlertStatus.FAILED, f"executor error: {type(exc).__name__}: {exc}",
                                code=Reason.EXECUTOR_ERROR)
        if outcome.status not in EXECUTOR_STATUSES:
            return AlertOutcome(AlertStatus.FAILED, f"executor returned status {outcome.status!s}",
                                outcome.client_order_id, outcome.order_id, code=Reason.EXECUTOR_ERROR)
        return outcome
