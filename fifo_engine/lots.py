"""The FIFO engine's values: lots, queues and their undo records, and what the engine returns.

Kept apart from the matching rules (fifo_engine/engine.py) so the rules read on their own.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from core.enums import HoldingTerm
from fifo_engine.arithmetic import ZERO, canon
from fifo_engine.model import Allocation, FillFact, FillKey


class OutOfOrderFill(ValueError):
    """A fill earlier than the last one applied, on a book that keeps no history to replay."""


class _Lot:
    __slots__ = ("basis_remaining", "fee", "fee_per_unit", "last_short_date", "memo", "order_id", "price",
                 "remaining", "size", "time", "time_text", "trade_id")

    def __init__(self, trade_id: str, order_id: str, time: datetime, price: Decimal, size: Decimal, fee: Decimal,
                 last_short_date: date) -> None:
        self.trade_id = trade_id
        self.order_id = order_id
        self.time = time
        self.price = price
        self.size = size
        self.fee = fee
        self.fee_per_unit = canon(fee / size)
        self.remaining = size
        self.basis_remaining = size * price + fee
        self.last_short_date = last_short_date
        self.time_text = ""  # apply_rows: the database's text of `time`
        self.memo: str | None = None  # free for the consumer of apply_rows (the lot's COPY text)


@dataclass(frozen=True, slots=True)
class OpenLot:
    """A read-only view of an open lot."""

    buy_trade_id: str
    buy_order_id: str
    buy_time: datetime
    price: Decimal
    size: Decimal
    remaining: Decimal
    basis_remaining: Decimal


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    """What one `apply_detailed` call produced.

    `allocations` holds the complete slices of every sell in `recomputed_sells`: the applied sell
    itself, or — after an out-of-order fill — every sell of that queue from the new fill onwards.
    Slices previously emitted for those sells are superseded."""

    allocations: list[Allocation]
    recomputed_sells: tuple[str, ...]
    replayed: bool = False
    duplicate: bool = False


class LotView(Protocol):
    """What a SliceRow shows of a lot (read-only, but `memo`)."""

    order_id: str
    trade_id: str
    time_text: str
    price: Decimal
    fee_per_unit: Decimal
    memo: str | None


# A rebuild's slice (FifoBook.apply_rows): (sell, lot, slice_index, allocated_size, cost_basis_usd,
# proceeds_usd, net_proceeds_usd, pnl_usd, holding_term). `sell` = (portfolio_id, symbol, order_id,
# trade_id, price, fee_per_unit, time_text), one tuple per sell fill shared by its slices; `lot` = the
# buy lot, the same object for all its slices, or None for a missing-basis slice. Shared parts let the
# consumer format them once, not once per slice; times come as the database's text of trade_time.
SliceRow = tuple[tuple[str, str, str, str, Decimal, Decimal, str], LotView | None, int, Decimal, Decimal,
                 Decimal, Decimal, Decimal, HoldingTerm]


class _Queue:
    __slots__ = ("history", "last_key", "lots", "portfolio_id", "realized", "seen", "symbol")

    def __init__(self, portfolio_id: str, symbol: str, keep_history: bool) -> None:
        self.portfolio_id = portfolio_id
        self.symbol = symbol
        self.lots: deque[_Lot] = deque()
        self.realized = ZERO
        self.last_key: FillKey | None = None
        self.history: list[tuple[FillKey, FillFact]] | None = [] if keep_history else None
        self.seen: set[str] | None = set() if keep_history else None


class _Saved:
    """A queue's state at `begin()`, enough to undo in-place changes."""

    __slots__ = ("history_len", "last_key", "lots", "queue", "realized")

    def __init__(self, queue: _Queue) -> None:
        self.queue = queue
        self.lots = [(lot, lot.remaining, lot.basis_remaining) for lot in queue.lots]
        self.realized = queue.realized
        self.last_key = queue.last_key
        self.history_len = len(queue.history) if queue.history is not None else 0

    def restore(self) -> _Queue:
        q = self.queue
        for lot, remaining, basis in self.lots:
            lot.remaining = remaining
            lot.basis_remaining = basis
        q.lots = deque(lot for lot, _, _ in self.lots)
        q.realized = self.realized
        q.last_key = self.last_key
        if q.history is not None and q.seen is not None:
            for _, fill in q.history[self.history_len:]:
                q.seen.discard(fill.trade_id)
            del q.history[self.history_len:]
        return q
