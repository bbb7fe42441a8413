"""Bring every product's candles up to date: concurrent, bounded, one product's failure is its own.

The adapter has its own rate limiter and retries; the semaphore here only bounds how many requests
sighook has in flight. A cold start (series empty) logs its progress as it backfills.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.logging import get_logger
from exchange.port import ExchangePort
from sighook.candle_store import CandleStore

log = get_logger(__name__)


@dataclass(slots=True)
class FetchReport:
    products: int = 0
    requests: int = 0
    candles_added: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # product_id → error
    timed_out: list[str] = field(default_factory=list)
    backfill: bool = False


async def refresh_candles(exchange: ExchangePort, store: CandleStore, product_ids: Sequence[str], *,
                          granularity: str, market_now: datetime, concurrency: int, timeout_s: float,
                          request_timeout_s: float) -> FetchReport:
    """Fetch the missing closed buckets of every product (within `timeout_s` for the whole stage)."""
    report = FetchReport(products=len(product_ids))
    cold = [pid for pid in product_ids if store.last_start(pid, granularity) is None]
    report.backfill = bool(cold)
    progress = _Progress(len(cold)) if cold else None
    cold_set = set(cold)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(pid: str) -> None:
        windows = store.plan(pid, granularity, market_now)
        try:
            for window in windows:
                async with gate:
                    report.requests += 1
                    # The port's range is inclusive: stop one second before the (open) bucket at `end`.
                    candles = await asyncio.wait_for(exchange.get_candles(
                        pid, window.start, window.end - timedelta(seconds=1), granularity), request_timeout_s)
                report.candles_added += store.merge(pid, granularity, candles, market_now)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one product's bad data or error never stops the others
            report.failed[pid] = f"{type(exc).__name__}: {exc}"[:200]
            log.warning("candles_fetch_failed", product_id=pid, error=report.failed[pid])
        finally:
            if progress is not None and pid in cold_set:
                progress.step()

    tasks = {asyncio.create_task(one(pid), name=f"candles:{pid}"): pid for pid in product_ids}
    if not tasks:
        return report
    _done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        task.cancel()
        report.timed_out.append(tasks[task])
    if pending:
        await asyncio.wait(pending)
        log.warning("candles_fetch_stage_timeout", timed_out=len(pending), timeout_s=timeout_s)
    if progress is not None:
        progress.finish()
    return report


class _Progress:
    """Structured progress lines for a cold-start backfill (about every 10 % or 5 s)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self._started = time.monotonic()
        self._last_log = self._started
        self._last_pct = 0
        log.info("candles_backfill_started", products=total)

    def step(self) -> None:
        self.done += 1
        pct = self.done * 100 // self.total
        now = time.monotonic()
        if pct >= self._last_pct + 10 or now - self._last_log >= 5.0:
            self._last_pct, self._last_log = pct, now
            log.info("candles_backfill_progress", done=self.done, total=self.total, pct=pct,
                     elapsed_s=round(now - self._started, 2))

    def finish(self) -> None:
        log.info("candles_backfill_finished", done=self.done, total=self.total,
                 elapsed_s=round(time.monotonic() - self._started, 2))
