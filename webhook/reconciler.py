"""Reconciliation: the exchange's REST view repairs whatever the real-time path missed.

Runs every RECONCILE_INTERVAL_S and whenever a feed reconnects or sees a sequence gap. It records
fills we do not have (since a stored cursor, with overlap), settles orders we think are open, and
makes `passive_orders` equal to the exchange's open orders. Fill writes go through FillRecorder, so
they share the fill path's advisory lock and exactly-once rule.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock, format_rfc3339, parse_rfc3339
from core.enums import IngestVia, OrderSource, OrderStatus
from core.logging import get_logger
from core.metrics import RECONCILE_ROWS, RECONCILE_RUNS
from exchange.models import Fill, Order
from exchange.paging import all_fills, all_orders
from exchange.port import ExchangeError, ExchangeNotFound, ExchangePort
from shared_data import order_store
from shared_data.db import unit_of_work
from shared_data.models import Fill as FillRow
from shared_data.models import SharedData, TradeRecord
from webhook.fill_recorder import FillRecorder
from webhook.order_manager import OrderManager

log = get_logger(__name__)

CURSOR_KEY = "reconcile_cursor"
OVERLAP = timedelta(minutes=10)  # fills can appear late; re-read a window behind the cursor
FIRST_RUN_LOOKBACK = timedelta(days=2)
CHUNK = 200


class Reconciler:
    def __init__(self, exchange: ExchangePort, sessions: async_sessionmaker[AsyncSession], recorder: FillRecorder,
                 orders: OrderManager | None, clock: Clock | None = None) -> None:
        self._exchange = exchange
        self._sessions = sessions
        self._recorder = recorder
        self._orders = orders
        self._clock = clock or SystemClock()
        self.last_run_at: datetime | None = None
        self._run_lock = asyncio.Lock()

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, interval_s: float | Callable[[], float]) -> None:
        """`interval_s` may be a function: degraded mode slows reconciliation while the exchange is failing."""
        trigger = "start"
        while not stop.is_set():
            try:
                await self.run_once(trigger)
            except ExchangeError as exc:
                log.warning("reconcile_failed", trigger=trigger, error=str(exc))
            wake.clear()
            trigger = await _wait_any(stop, wake, interval_s() if callable(interval_s) else interval_s)

    async def run_once(self, trigger: str = "manual") -> dict[str, int]:
        async with self._run_lock:
            RECONCILE_RUNS.labels(trigger=trigger).inc()
            stats = {"fills_inserted": 0, "orders_updated": 0, "passive_removed": 0, "recovered": 0}
            if self._orders is not None:
                stats["recovered"] = await self._orders.recover_unsent()
            stats["fills_inserted"] = await self._missing_fills()
            stats["orders_updated"] = await self._settle_open_orders()
            stats["passive_removed"] = await self._sync_passive_orders()
            RECONCILE_ROWS.labels(kind="inserted").inc(stats["fills_inserted"])
            RECONCILE_ROWS.labels(kind="updated").inc(stats["orders_updated"])
            self.last_run_at = self._clock.now()
            log.info("reconciled", trigger=trigger, **stats)
            return stats

    async def _missing_fills(self) -> int:
        since = await self._cursor()
        fills = await all_fills(self._exchange, start=since - OVERLAP)
        if not fills:
            return 0
        known = await self._known_trade_ids([f.trade_id for f in fills])
        by_order: dict[str, list[Fill]] = defaultdict(list)
        for fill in fills:
            by_order[fill.order_id].append(fill)
        inserted = 0
        for order_id, order_fills in by_order.items():
            if all(f.trade_id in known for f in order_fills):
                continue
            order = await self._exchange.get_order(order_id)
            inserted += await self._recorder.record(order, order_fills, via=IngestVia.REST,
                                                    source=OrderSource.RECONCILED)
        newest = max(f.trade_time for f in fills)
        await self._store_cursor(max(newest, since))
        return inserted

    async def _settle_open_orders(self) -> int:
        """Orders we still think are open: ask the exchange and record their final state and fills."""
        async with self._sessions() as session:
            rows = (await session.execute(
                select(TradeRecord.order_id).where(
                    TradeRecord.status.in_([OrderStatus.PENDING.value, OrderStatus.OPEN.value,
                                            OrderStatus.QUEUED.value, OrderStatus.CANCEL_QUEUED.value]),
                    TradeRecord.order_id.not_like(f"{order_store.PLACEHOLDER_PREFIX}%"),
                )
            )).scalars().all()
        updated = 0
        for start in range(0, len(rows), CHUNK):
            for order_id in rows[start:start + CHUNK]:
                try:
                    order = await self._exchange.get_order(order_id)
                except ExchangeNotFound:
                    log.warning("reconcile_order_unknown_to_exchange", order_id=order_id)
                    continue
                fills = await all_fills(self._exchange, order_ids=[order_id]) if order.filled_size > 0 else []
                await self._recorder.record(order, fills, via=IngestVia.REST, source=OrderSource.RECONCILED)
                async with unit_of_work(self._sessions) as session:
                    await session.execute(
                        update(TradeRecord)
                        .where(TradeRecord.order_id == order_id)
                        .values(last_reconciled_at=self._clock.now(), last_reconciled_via=IngestVia.REST.value)
                    )
                updated += 1
        return updated

    async def _sync_passive_orders(self) -> int:
        open_orders: list[Order] = []
        # Coinbase does not combine OPEN with other statuses in one query.
        for status in ("OPEN", "PENDING", "QUEUED"):
            open_orders.extend(await all_orders(self._exchange, status))
        async with unit_of_work(self._sessions) as session:
            return await order_store.replace_passive_orders(session, open_orders)

    async def _known_trade_ids(self, trade_ids: Sequence[str]) -> set[str]:
        async with self._sessions() as session:
            result = await session.execute(select(FillRow.trade_id).where(FillRow.trade_id.in_(list(trade_ids))))
            return set(result.scalars())

    async def _cursor(self) -> datetime:
        async with self._sessions() as session:
            row = await session.get(SharedData, CURSOR_KEY)
            if row is not None and row.data.get("fills_since"):
                return parse_rfc3339(row.data["fills_since"])
            newest = (await session.execute(select(FillRow.trade_time).order_by(FillRow.trade_time.desc()).limit(1)
                                            )).scalar_one_or_none()
        return newest or (self._clock.now() - FIRST_RUN_LOOKBACK)

    async def _store_cursor(self, when: datetime) -> None:
        from sqlalchemy.dialects.postgresql import insert

        async with unit_of_work(self._sessions) as session:
            stmt = insert(SharedData).values(data_type=CURSOR_KEY, data={"fills_since": format_rfc3339(when)})
            await session.execute(stmt.on_conflict_do_update(index_elements=[SharedData.data_type],
                                                             set_={"data": stmt.excluded.data}))


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> str:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    done, pending = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    if waiters[1] in done:
        return "event"
    return "stop" if stop.is_set() else "interval"
