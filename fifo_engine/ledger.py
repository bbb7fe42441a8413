"""FifoLedger: the in-memory FifoBook plus its persistence, for the real-time fill path.

Transaction rule: `apply_fills(session, fills)` works inside the caller's transaction and never
commits. It applies the fills to the book at once (so `position()` reflects them immediately) and
keeps an undo record; the book keeps the changes when that transaction commits and undoes them when
it rolls back or the session closes without committing. This is wired to the session's
`after_commit` / `after_transaction_end` events, so callers need do nothing; `commit()` /
`rollback()` exist for callers that manage this by hand. Do not call apply_fills inside a
SAVEPOINT (begin_nested): a rolled-back savepoint could not be told apart from a committed one.

Writers are serialized by a transaction-scoped advisory lock (`pg.FIFO_LOCK_KEY`), taken first
thing in apply_fills (and apply_on); the rebuild takes it too. Take it after other advisory locks
(the fill path's) and, where you can, before locking trade_records rows: the rebuild takes the lock,
then those rows, so a caller holding a row while waiting for the lock can deadlock with it (the fill
recorder takes it in its order's statement, ahead of the order row). The same statement makes the
rest of apply_fills plan each statement afresh with sequential scans priced out (stale statistics
must not turn its lookups by key into scans of whole tables); the UPDATE restores the caller's
settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from core.logging import get_logger
from fifo_engine import sql
from fifo_engine.arithmetic import validate_fill
from fifo_engine.engine import FifoBook
from fifo_engine.model import Allocation, EngineConfig, FillFact, PositionSnapshot, fill_key
from fifo_engine.pg import FIFO_LOCK_KEY, driver_connection, fetch_first
from shared_data.models import TradeRecord
from shared_data.trade_recorder import fill_from_record, select_fills_sql

log = get_logger(__name__)


class FifoLedger:
    def __init__(self, book: FifoBook) -> None:
        self.book = book
        self._session: Session | None = None
        self._transaction: SessionTransaction | None = None
        self._committed = False
        self._poisoned = False
        self._listening = False

    @classmethod
    async def load(cls, session: AsyncSession, settings: Any) -> FifoLedger:
        """Rebuild the books from the stored fills (replayed in the total order). Reads only; the
        stored allocations are not touched (run `check` to compare them)."""
        book = FifoBook(EngineConfig.from_settings(settings))
        driver = await driver_connection(session)
        count = 0
        async for record in driver.cursor(select_fills_sql(), prefetch=10_000):
            book.apply(fill_from_record(record))
            count += 1
        log.info("fifo_ledger_loaded", fills=count, positions=sum(1 for p in book.positions() if p.is_open))
        return cls(book)

    async def reload_on(self, driver: asyncpg.Connection, *, leaving_out: Sequence[str] = ()) -> None:
        """Rebuild the book from the stored fills, read in the caller's transaction, bar the trade ids
        `leaving_out` (fills this transaction inserted and is about to apply). For a book that missed fills
        the database holds: a COMMIT whose answer was lost (the write is retried and finds them stored)."""
        if self.book.staging or self._session is not None:
            raise RuntimeError("FifoLedger.reload_on: a stage is open")
        book = FifoBook(self.book.config)
        where = select_fills_sql("NOT (trade_id = ANY($1::text[]))")
        count = 0
        async for record in driver.cursor(where, list(leaving_out), prefetch=10_000):
            book.apply(fill_from_record(record))
            count += 1
        log.warning("fifo_ledger_reloaded", fills=count, why="the database holds fills this book never applied")
        self.book = book

    # ---- reading --------------------------------------------------------------------------------
    def position(self, symbol: str, portfolio_id: str = "default") -> PositionSnapshot:
        return self.book.position(symbol, portfolio_id)

    def positions(self) -> list[PositionSnapshot]:
        return self.book.positions()

    @property
    def pending(self) -> bool:
        """True while applied fills wait for their transaction to commit or roll back."""
        return self.book.staging

    # ---- the real-time path ---------------------------------------------------------------------
    async def apply_fills(self, session: AsyncSession, fills: Sequence[FillFact]) -> list[Allocation]:
        """Apply newly recorded fills (from `insert_fills`) inside the caller's transaction: write their
        fifo_allocations rows and the FIFO-derived trade_records fields of the orders involved.

        Returns every slice written: the new sells' and, when a fill arrived out of order, the
        recomputed slices of the later sells of that symbol (their old rows are replaced)."""
        if not fills:
            return []
        if session.in_nested_transaction():
            raise RuntimeError("FifoLedger.apply_fills must not run inside a SAVEPOINT (see module docs)")
        for fill in fills:
            validate_fill(fill)  # bad input: a clear error before anything changes
        await session.flush()  # pending ORM rows (e.g. the order row) must exist before our UPDATEs
        driver, locked = await fetch_first(session, sql.LOCK_FOR_APPLY, FIFO_LOCK_KEY, sql.plan_mode(len(fills)))
        self._attach(session)
        try:
            return await self._apply(session, driver, fills, planner=(locked[0][1], locked[0][2]))
        except BaseException:
            # The transaction cannot commit what this call half wrote (a failed statement aborts it):
            # whatever the caller does next, the stage is undone when the transaction ends.
            self._poisoned = True
            raise

    async def apply_on(self, driver: asyncpg.Connection, fills: Sequence[FillFact],
                       locked: tuple[str, str] | None = None) -> list[Allocation]:
        """apply_fills for a transaction run straight on the driver (the fill recorder's): the same writes,
        but no session tells the ledger how the transaction ended, so the caller calls `commit()` once it
        committed and `rollback()` if it did not. `locked`: the two settings columns of the row of
        `sql.lock_for_apply_if` when an earlier statement of this transaction returned it (the lock is
        held and the planner set); without them, the lock is taken here."""
        if not fills:
            return []
        if not driver.is_in_transaction():
            raise RuntimeError("FifoLedger.apply_on needs a transaction: FIFO writes need one")
        for fill in fills:
            validate_fill(fill)
        if locked is None:
            row = (await driver.fetch(sql.LOCK_FOR_APPLY, FIFO_LOCK_KEY, sql.plan_mode(len(fills))))[0]
            locked = (row[1], row[2])
        if self._session is not None:
            log.error("fifo_stage_orphaned")  # a session's stage never ended (see _attach)
            self.rollback()
        if not self.book.staging:
            self.book.begin()
        return await self._apply(None, driver, fills, planner=locked)

    async def _apply(self, session: AsyncSession | None, driver: asyncpg.Connection, fills: Sequence[FillFact],
                     planner: tuple[str, str]) -> list[Allocation]:
        batch_ids = {f.trade_id for f in fills}
        final: dict[str, list[Allocation]] = {}
        replaced: set[str] = set()
        sell_orders: set[str] = set()
        buy_orders: set[str] = set()
        for fill in sorted(fills, key=fill_key):  # in order: no replay inside one batch
            outcome = self.book.apply_detailed(fill)
            if outcome.duplicate:
                log.warning("fifo_fill_already_applied", trade_id=fill.trade_id)
                continue
            (buy_orders if fill.side == "BUY" else sell_orders).add(fill.order_id)
            for sell_id in outcome.recomputed_sells:
                final[sell_id] = []
                if outcome.replayed and sell_id not in batch_ids:
                    replaced.add(sell_id)
            for a in outcome.allocations:
                final[a.sell_trade_id].append(a)
            if outcome.replayed:
                log.info("fifo_queue_replayed", symbol=fill.symbol, trade_id=fill.trade_id,
                         recomputed_sells=len(outcome.recomputed_sells))

        if replaced:
            for row in await driver.fetch(sql.DELETE_SELL_SLICES, sorted(replaced)):
                sell_orders.add(row["sell_order_id"])
                if row["buy_order_id"] is not None:
                    buy_orders.add(row["buy_order_id"])
        written = [a for slices in final.values() for a in slices]
        if written:
            await driver.execute(sql.INSERT_ALLOCATIONS, *_columns(written))
        for a in written:
            sell_orders.add(a.sell_order_id)
            if a.buy_order_id is not None:
                buy_orders.add(a.buy_order_id)
        await self._refresh_orders(session, driver, sell_orders, buy_orders, planner)
        return written

    async def _refresh_orders(self, session: AsyncSession | None, driver: asyncpg.Connection, sell_orders: set[str],
                              buy_orders: set[str], planner: tuple[str, str]) -> None:
        rows = await driver.fetch(sql.UPDATE_ORDER_FIELDS, sorted(sell_orders), sorted(buy_orders), *planner)
        touched = {r[0] for r in rows if r[0] is not None}
        if touched and session is not None:
            # Our UPDATEs bypass the ORM: expire the derived fields of loaded TradeRecord objects.
            for obj in list(session.identity_map.values()):
                if isinstance(obj, TradeRecord) and obj.order_id in touched:
                    session.expire(obj, list(sql.DERIVED_FIELDS))

    # ---- staging tied to the caller's transaction -------------------------------------------------
    def _attach(self, session: AsyncSession) -> None:
        sync = session.sync_session
        if self._session is sync:
            return
        if self._session is not None:
            # The advisory lock makes this unreachable across transactions; it means a transaction
            # ended without its events (e.g. a connection was lost mid-way): drop the uncertain stage.
            log.error("fifo_stage_orphaned")
            self.rollback()
        transaction = sync.get_transaction()
        if transaction is None:
            raise RuntimeError("FifoLedger.apply_fills needs the session to be in a transaction")
        self.book.begin()
        self._session = sync
        self._transaction = transaction
        self._committed = False
        if not self._listening:
            # Once, on the Session class (per-session listeners cost more than the rest of a small
            # transaction); they ignore every transaction but the staged one.
            event.listen(Session, "after_commit", self._after_commit)
            event.listen(Session, "after_transaction_end", self._after_transaction_end)
            self._listening = True

    def _after_commit(self, session: Session) -> None:
        # Fires for savepoint commits too; only the outermost transaction counts.
        if session is self._session and not session.in_nested_transaction():
            self._committed = True

    def _after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        if self._transaction is None or transaction is not self._transaction:
            return
        if self._committed and not self._poisoned:
            self.commit()
        else:
            if self._committed:
                log.error("fifo_commit_after_failed_apply", hint="apply_fills raised inside this transaction; "
                          "its fills were undone in memory — run `fifo check`")
            self.rollback()

    def _detach(self) -> None:
        self._session = None
        self._poisoned = False
        self._transaction = None
        self._committed = False

    def commit(self) -> None:
        """Keep the fills applied in the current transaction (called automatically on commit)."""
        if self.book.staging:
            self.book.commit()
        self._detach()

    def rollback(self) -> None:
        """Undo the fills applied in the current transaction (called automatically on rollback)."""
        if self.book.staging:
            self.book.rollback()
            log.info("fifo_stage_rolled_back")
        self._detach()


def _columns(allocations: list[Allocation]) -> list[list[Any]]:
    rows = [a.as_row() for a in allocations]
    columns = [list(col) for col in zip(*rows, strict=True)]
    for i in sql.NUMERIC_POSITIONS:
        columns[i] = [str(v) for v in columns[i]]
    return columns
