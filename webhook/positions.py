"""Positions as the rest of the daemon sees them: derived from the FIFO ledger, in memory."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.enums import TERMINAL_STATUSES, Side
from core.logging import get_logger
from core.metrics import REALIZED_PNL
from core.money import ZERO
from exchange.models import Balance, Order
from fifo_engine.engine import FifoBook
from fifo_engine.ledger import FifoLedger
from market_data.market_cache import MarketCache
from shared_data import direct

log = get_logger(__name__)


class ExitListener(Protocol):
    def exit_finished(self, symbol: str, *, filled: bool, order_id: str | None = None) -> None: ...


class ExitRecorder(Protocol):
    async def record_exit(self, pnl_usd: Decimal, at: datetime) -> object: ...


@dataclass(frozen=True, slots=True)
class HeldPosition:
    """An open long position as the sentinel needs it (entry price always known)."""

    symbol: str
    size: Decimal
    avg_entry_price: Decimal
    opened_at: datetime | None
    cost_basis_usd: Decimal


class PositionBook:
    """PositionSource for the sentinel: open positions from the ledger (rebuilt from fills at start)."""

    def __init__(self, ledger: FifoLedger, sellable: Callable[[str, Decimal], bool] | None = None,
                 clock: Clock | None = None) -> None:
        """`sellable(symbol, size)`: can this size be sold at all? A quote-sized market buy fills in
        finer steps than the product's increment, so unsellable remainders (dust) are normal; they
        are not positions to guard."""
        self._ledger = ledger
        self._clock = clock or SystemClock()
        self._sellable = sellable or (lambda _symbol, size: size > 0)
        self._tasks: set[asyncio.Task[None]] = set()
        self._settled: set[str] = set()
        self._cached: list[HeldPosition] | None = None
        # The book and its rollback count when the list was built. A list read while fills were staged (the
        # sentinel reads on every tick, also while a fill's transaction awaits the database) shows them; if
        # that transaction rolls back, or the book is rebuilt from the database (a lost COMMIT's retry, a
        # takeover, `fills retry`), nothing else need tell this cache: otherwise the sentinel would guard a
        # position never recorded, or stop guarding one that a rolled-back sell had closed.
        # A weak reference: a replaced book (a standby reloads often, and reads the list seldom) is not kept.
        self._basis: tuple[weakref.ref[FifoBook], int] = (weakref.ref(ledger.book), ledger.book.undone)

    def invalidate(self) -> None:
        """Fills changed the ledger: rebuild the list on the next read (the sentinel reads it often)."""
        self._cached = None

    def open_positions(self) -> list[HeldPosition]:
        book = self._ledger.book
        if book is not self._basis[0]() or book.undone != self._basis[1]:
            self._cached, self._basis = None, (weakref.ref(book), book.undone)
        if self._cached is None:
            self._cached = [HeldPosition(p.symbol, p.size, p.avg_entry_price, p.opened_at, p.cost_basis_usd)
                            for p in self._ledger.positions()
                            if p.is_open and p.avg_entry_price and self._sellable(p.symbol, p.size)]
        return self._cached

    def size_of(self, symbol: str) -> Decimal:
        """Sellable size: zero when only dust is left."""
        size = self._ledger.position(symbol).size
        return size if self._sellable(symbol, size) else ZERO

    def account_value(self, cache: MarketCache) -> Callable[[Mapping[str, Balance]], Decimal]:
        """Cash in quote currencies plus open positions at the last price."""

        def value(balances: Mapping[str, Balance]) -> Decimal:
            cash = sum((b.total for c, b in balances.items() if c in ("USD", "USDC")), ZERO)
            held = ZERO
            for p in self.open_positions():
                quote = cache.get(p.symbol)
                held += p.size * (quote.price if quote else (p.avg_entry_price or ZERO))
            return cash + held

        return value

    def exit_watcher(self, monitor: ExitListener, risk: ExitRecorder,
                     sessions: async_sessionmaker[AsyncSession],
                     owned: Callable[[str, str], bool] | None = None) -> Callable[[Order, int], None]:
        """When a sell reaches a final state: tell the sentinel, and count its P&L for the breakers.

        `owned(order_id, client_order_id)`: the order is a child of a working exit (re-priced by
        cancel-replace, or escalated to market); the desk tells the sentinel when the whole exit is
        done, and counts its P&L, not each child. Asked by client_order_id too: the desk claims a
        child before sending it, so a child filled before its answer arrives is still the desk's."""

        def on_order(order: Order, new_fills: int) -> None:
            if new_fills:
                self.invalidate()
            if order.side is not Side.SELL or order.status not in TERMINAL_STATUSES:
                return
            if order.order_id in self._settled:
                return
            self._settled.add(order.order_id)
            if owned is not None and owned(order.order_id, order.client_order_id):
                return  # a working exit's child: the desk reports the whole exit, and its P&L, once
            monitor.exit_finished(order.product_id, filled=order.filled_size > 0, order_id=order.order_id)
            if order.filled_size > 0:
                task = asyncio.get_running_loop().create_task(self._count_exit(order.order_id, risk, sessions))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        return on_order

    def working_exit_counter(self, risk: ExitRecorder, sessions: async_sessionmaker[AsyncSession]
                             ) -> Callable[[str, Decimal | None], None]:
        """Count a finished working exit as ONE exit for the breakers: the P&L of all its children. `pnl`: that
        sum as the desk's final save read it; None: read it from trade_records (nothing is counted if no
        child has a P&L)."""

        def count(working_order_id: str, pnl: Decimal | None = None) -> None:
            task = asyncio.get_running_loop().create_task(
                self._count_working(working_order_id, risk, sessions, pnl))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return count

    async def _count_working(self, working_order_id: str, risk: ExitRecorder,
                             sessions: async_sessionmaker[AsyncSession], pnl: Decimal | None) -> None:
        try:
            if pnl is None:  # (rare) not read by the desk's final save: through the driver, a third of the CPU
                row = await direct.fetchrow(
                    sessions, "SELECT sum(pnl_usd) FROM trade_records WHERE working_order_id = $1", working_order_id)
                pnl = row[0] if row is not None else None
            if pnl is not None:
                await risk.record_exit(pnl, self._clock.now())
        except Exception:
            log.exception("exit_pnl_count_failed", working_order_id=working_order_id)

    async def _count_exit(self, order_id: str, risk: ExitRecorder, sessions: async_sessionmaker[AsyncSession]) -> None:
        try:
            # order_id is trade_records' primary key: one row or none. Straight through the driver.
            row = await direct.fetchrow(sessions, "SELECT pnl_usd FROM trade_records WHERE order_id = $1", order_id)
            pnl: Decimal | None = row[0] if row is not None else None
            if pnl is not None:
                REALIZED_PNL.inc(float(pnl))  # a gauge: P&L may be negative; float only for display
                await risk.record_exit(pnl, self._clock.now())
        except Exception:
            log.exception("exit_pnl_count_failed", order_id=order_id)
