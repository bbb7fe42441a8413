"""Record an order's fills exactly once: order row, fills, FIFO allocations, in one transaction.

Both the real-time path (user-channel update → REST fills) and the reconciler call `record`, so there
is one way a fill enters the database. A Postgres advisory lock serialises the two, and the
`fills.trade_id` key makes a replay insert nothing.
"""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.enums import IngestVia, OrderSource
from core.logging import get_logger
from core.metrics import FILL_RECORD_LAG, FILLS_RECORDED
from exchange.models import Fill, Order
from fifo_engine.ledger import FifoLedger
from fifo_engine.model import FillFact
from fifo_engine.pg import FIFO_LOCK_KEY
from fifo_engine.sql import lock_for_apply_if, plan_mode
from shared_data import direct, order_store
from shared_data.trade_recorder import FILLS_PARAMS, fills_arguments, insert_fills_sql, new_fills
from webhook.fill_dead_letters import DeadLetters, is_refusal

log = get_logger(__name__)

# One key for "fills and FIFO are being written"; the reconciler and fill path both take it.
FILL_PATH_LOCK_KEY = 0x5F11_0001
WRITTEN_MEMORY = 4096
# What follows the order's facts in their statement: the fills (`f`), then, when one of them is new,
# the ledger's FIFO lock and planner settings (sql.LOCK_FOR_APPLY, a statement of its own in apply_on
# before). That lock only guards the FIFO writes, which are later statements (snapshots taken after
# it). Taken here it is never later than before, and in fact before the order row's lock (PostgreSQL
# runs the WITH writes nothing reads after the main query): the rebuild's order (FIFO lock, then
# rows), so a rebuild updating that row no longer deadlocks with the recorder.
_FILLS_AFTER_FACTS = f"""f AS ({insert_fills_sql(order_store.FACTS_PARAMS + 1)}),
fifo_lock (held, plan_cache_mode, enable_seqscan, plan_set, seqscan_set) AS MATERIALIZED (
    {lock_for_apply_if("EXISTS (SELECT FROM f)", f"${order_store.FACTS_PARAMS + FILLS_PARAMS + 1}",
                       f"${order_store.FACTS_PARAMS + FILLS_PARAMS + 2}")})
SELECT trade_id, NULL, NULL FROM f UNION ALL SELECT NULL, plan_cache_mode, enable_seqscan FROM fifo_lock"""


def to_fact(fill: Fill) -> FillFact:
    return FillFact(
        trade_id=fill.trade_id, order_id=fill.order_id, symbol=fill.product_id, side=fill.side, price=fill.price,
        size=fill.size, commission=fill.commission, trade_time=fill.trade_time,
        sequence_timestamp=fill.sequence_timestamp, liquidity_indicator=fill.liquidity_indicator,
    )


class FillRecorder:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], ledger: FifoLedger,
                 now: Callable[[], datetime], dead_letters: DeadLetters | None = None, attempts: int = 1) -> None:
        """With `dead_letters`, a write that fails `attempts` times parks the fills there (an emergency
        that halts the product) instead of raising into the caller's loop."""
        self._sessions = sessions
        self._ledger = ledger
        self._now = now
        self._dead = dead_letters
        self._attempts = max(1, attempts)
        self._lock = asyncio.Lock()  # FIFO is applied in one order within this process
        self._listeners: list[Callable[[Order, int], None]] = []
        # order id → the facts last committed for it by this process (bounded, oldest forgotten first)
        self._written: OrderedDict[str, tuple[Order, tuple[FillFact, ...], IngestVia, OrderSource]] = OrderedDict()

    def on_order_recorded(self, callback: Callable[[Order, int], None]) -> None:
        """Called after every committed record(order, …) with the number of new fills."""
        self._listeners.append(callback)

    async def record(self, order: Order, fills: Sequence[Fill], *, via: IngestVia,
                     source: OrderSource = OrderSource.RECONCILED) -> int:
        """Upsert the order, insert new fills, apply FIFO; returns how many fills were new."""
        usable = [f for f in fills if f.trade_type == "FILL" and f.size > 0]
        odd = [f for f in fills if f not in usable]
        if odd:
            # Reversals/corrections change history: record nothing silently, make a human look.
            log.warning("fill_corrections_seen", order_id=order.order_id,
                        trade_ids=[f.trade_id for f in odd], types=sorted({f.trade_type for f in odd}))
        facts = sorted((to_fact(f) for f in usable), key=lambda f: (f.trade_time, f.trade_id))
        if self._dead is not None and self._dead.holds(order.order_id):
            log.debug("fill_recording_parked", order_id=order.order_id)  # `fills retry` records it
            return 0
        attempt = 0
        same = (order, tuple(facts), via, source)
        while True:
            attempt += 1
            if self._written.get(order.order_id) == same:
                # This process committed exactly these facts already (the desk settles an order it just
                # placed, then the user channel prompts for it): the write would insert no fill and change
                # no field of the row (the upsert never regresses) but its updated_at. Listeners still run.
                new = []
                break
            try:
                new = await self._write(order, facts, via, source)
                self._written[order.order_id] = same
                self._written.move_to_end(order.order_id)
                if len(self._written) > WRITTEN_MEMORY:
                    self._written.popitem(last=False)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._dead is None:
                    raise
                if attempt >= self._attempts:
                    if not is_refusal(exc):
                        raise  # the database is away: the fill path and the reconciler retry as before
                    await self._dead.park(order, usable, exc, attempt)
                    return 0
                delay = min(2.0, 0.2 * 2 ** (attempt - 1)) * (0.5 + random.random())
                log.warning("fill_record_retry", order_id=order.order_id, attempt=attempt, error=repr(exc),
                            retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)
        if new:
            now = self._now()
            FILLS_RECORDED.labels(via=via.value).inc(len(new))
            for fact in new:
                FILL_RECORD_LAG.observe(max(0.0, (now - fact.trade_time).total_seconds()))
            log.info("fills_recorded", order_id=order.order_id, symbol=order.product_id, side=order.side.value,
                     new=len(new), status=order.status.value, via=via.value)
        for callback in self._listeners:
            try:
                callback(order, len(new))
            except Exception:
                log.exception("order_listener_failed", order_id=order.order_id)
        return len(new)

    async def _write(self, order: Order, facts: list[FillFact], via: IngestVia, source: OrderSource) -> list[FillFact]:
        # Per order event: BEGIN with the lock (one round trip), the order row with its fills (one
        # statement), the FIFO writes when a fill is new, COMMIT. The lock is taken by a statement of its
        # own before any other: each later statement's snapshot (READ COMMITTED) sees whatever the last
        # holder (the reconciler in another process, `fills retry`) committed.
        then = _FILLS_AFTER_FACTS if facts else None
        sql, args = order_store.facts_statement(order, via=via, source=source, then=then)
        if facts:
            # A bad fill raises here, before anything is sent.
            args += [*fills_arguments(facts, via), FIFO_LOCK_KEY, plan_mode(len(facts))]
        async with self._lock:
            try:
                async with direct.locked_transaction(self._sessions, FILL_PATH_LOCK_KEY) as driver:
                    rows = await driver.fetch(sql, *args)
                    new = new_fills(facts, [r for r in rows if r[0] is not None])
                    if any(f not in new and not self._ledger.book.knows(f) for f in facts):
                        # Stored, yet never applied here: a COMMIT of this process whose answer was lost
                        # (the book was rolled back), or another process's write. Catch up from the
                        # database before applying anything on top (the fill-path lock holds the fills still).
                        await self._ledger.reload_on(driver, leaving_out=[f.trade_id for f in new])
                    # Without the lock's row (no fill was new), apply_on has nothing to do or locks itself.
                    locked = next(((r[1], r[2]) for r in rows if r[0] is None), None)
                    await self._ledger.apply_on(driver, new, locked)
            except BaseException:
                self._ledger.rollback()  # the in-memory lots must not run ahead of the database
                raise
            self._ledger.commit()
        return new

    async def reload_ledger(self, settings: object) -> None:
        """Rebuild the in-memory FIFO books from the database (after another process recorded fills)."""
        async with self._lock, self._sessions() as session:
            fresh = await FifoLedger.load(session, settings)
            self._ledger.book = fresh.book
