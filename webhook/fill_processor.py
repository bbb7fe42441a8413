"""User-channel order updates → fetch that order's fills over REST → FillRecorder.

The user channel carries cumulative order state, never fills (and no trade ids). A change in
`cumulative_quantity` or a terminal status is only a prompt: the fills themselves come from
`/orders/historical/fills`, polled until they add up to the order's filled size (the endpoint lags).
"""

from __future__ import annotations

import asyncio
import random

from core.enums import IngestVia, OrderSource
from core.logging import get_logger
from core.metrics import FILL_RECORD_FAILURES
from core.money import ZERO
from exchange.models import Fill, Order
from exchange.paging import all_fills
from exchange.port import ExchangePort
from webhook.fill_recorder import FillRecorder
from webhook.order_updates import OrderPrompt, UpdateDeduper

log = get_logger(__name__)

RETRY_BASE_S = 1.0
RETRY_MAX_S = 30.0
MAX_ATTEMPTS = 12  # about five minutes of retries; the periodic reconciler covers the rest


class FillProcessor:
    def __init__(self, exchange: ExchangePort, recorder: FillRecorder, *, fills_lag_retry_s: float = 15.0,
                 workers: int = 4) -> None:
        self._exchange = exchange
        self._recorder = recorder
        self._lag_s = fills_lag_retry_s
        self._dedupe = UpdateDeduper()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: set[str] = set()
        self._failures: dict[str, int] = {}
        self._workers = workers

    def on_update(self, prompt: OrderPrompt) -> None:
        """Called from the feed callback: cheap, never raises, never blocks."""
        if self._dedupe.is_news(prompt) and prompt.order_id not in self._pending:
            self._pending.add(prompt.order_id)
            self._queue.put_nowait(prompt.order_id)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    async def run(self, stop: asyncio.Event) -> None:
        workers = [asyncio.create_task(self._worker(stop), name=f"fill-worker-{i}") for i in range(self._workers)]
        try:
            await stop.wait()
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            order_id = await self._queue.get()
            self._pending.discard(order_id)
            try:
                await self.process_order(order_id)
                self._failures.pop(order_id, None)
            except Exception as exc:  # exchange or database trouble: retry with backoff, then leave it
                failures = self._failures.get(order_id, 0) + 1  # to the reconciler, which repairs anyway
                FILL_RECORD_FAILURES.inc()
                self._failures[order_id] = failures
                if failures > MAX_ATTEMPTS:
                    log.error("fill_processing_gave_up", order_id=order_id, attempts=failures, error=repr(exc))
                    self._failures.pop(order_id, None)
                    continue
                delay = min(RETRY_MAX_S, RETRY_BASE_S * 2 ** (failures - 1)) * (0.5 + random.random())
                log.warning("fill_processing_retry", order_id=order_id, attempt=failures, retry_in_s=round(delay, 2),
                            error=repr(exc))
                asyncio.get_running_loop().call_later(delay, self._requeue, order_id)

    def _requeue(self, order_id: str) -> None:
        if order_id not in self._pending:
            self._pending.add(order_id)
            self._queue.put_nowait(order_id)

    async def process_order(self, order_id: str, via: IngestVia = IngestVia.WEBSOCKET) -> int:
        order = await self._exchange.get_order(order_id)
        fills = await self.fetch_fills(order)
        return await self._recorder.record(order, fills, via=via, source=OrderSource.RECONCILED)

    async def fetch_fills(self, order: Order) -> list[Fill]:
        """All fills of the order, polling while the fills endpoint lags behind the order state."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lag_s
        delay = 0.1
        while True:
            fills = await all_fills(self._exchange, order_ids=[order.order_id])
            total = sum((f.size for f in fills if f.trade_type == "FILL"), ZERO)
            if total >= order.filled_size or loop.time() >= deadline:
                if total < order.filled_size:
                    log.warning("fills_lagging", order_id=order.order_id, have=total, want=order.filled_size)
                return fills
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)
            order = await self._exchange.get_order(order.order_id)
