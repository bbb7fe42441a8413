"""The FIFO lot-matching engine: pure, in memory, no clock and no I/O.

Rules (tax reference §1–§6, §9):
- One FIFO queue per (portfolio_id, symbol); one lot per buy fill; a sell fill consumes the oldest
  lots first. Fills are ordered by `model.fill_key` (trade_time, sequence_timestamp, trade_id); a
  buy is eligible for a sell only if it is strictly earlier in that order.
- Buy fees go into the lot's basis, sell fees reduce proceeds. Non-final slices are computed at 40
  significant digits and kept to at most 18 decimal places; the last slice of a lot takes the lot's
  remaining basis and the last slice of a sell takes the sell's remaining (net) proceeds, so
  Σ cost_basis over a lot == size×price+fee and Σ net_proceeds over a sell == size×price−fee exactly.
- A sell beyond the open lots makes one final `missing_basis` slice with zero basis and the
  configured term.
- A fill that arrives out of order (earlier than the last fill applied to its queue) makes the
  book replay that queue in the total order, so the result never depends on arrival order;
  `apply_detailed` then returns the recomputed slices of every later sell.

Staging: `begin()` … `commit()` / `rollback()` let a caller undo everything applied since
`begin()` (used by the ledger so the book never diverges from a rolled-back transaction).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal, localcontext
from functools import lru_cache
from operator import itemgetter
from typing import Any

from core.enums import HoldingTerm
from fifo_engine.arithmetic import ENGINE_CONTEXT, MONEY_PLACES, ZERO, canon, money, validate, validate_fill
from fifo_engine.holding import anniversary, holding_term, tax_zone
from fifo_engine.lots import ApplyOutcome, LotView, OpenLot, OutOfOrderFill, SliceRow, _Lot, _Queue, _Saved
from fifo_engine.model import NO_SEQUENCE, Allocation, EngineConfig, FillFact, FillKey, PositionSnapshot, fill_key

__all__ = ["MONEY_PLACES", "ApplyOutcome", "FifoBook", "LotView", "OpenLot", "OutOfOrderFill", "SliceRow",
           "allocate_all", "holding_term"]

_history_key = itemgetter(0)

QueueKey = tuple[str, str]  # (portfolio_id, symbol)


@lru_cache(maxsize=8192)
def _anniversary(acquired: date, month_end_convention: bool) -> date:
    return anniversary(acquired, month_end_convention)  # many lots share a trade date


class FifoBook:
    """All FIFO queues in memory. `keep_history=False` saves memory for one-pass rebuilds, which feed
    fills in the total order; such a book raises OutOfOrderFill instead of replaying."""

    def __init__(self, config: EngineConfig | None = None, *, keep_history: bool = True) -> None:
        self.config = config or EngineConfig()
        self.keep_history = keep_history
        self._queues: dict[QueueKey, _Queue] = {}
        self._saved: dict[QueueKey, _Saved | None] | None = None
        # Bumped when a rollback undoes applied fills: what readers cached from the stage is void.
        self.undone = 0
        self._zone = tax_zone(self.config.tax_timezone)

    # ---- applying fills -------------------------------------------------------------------------
    def apply(self, fill: FillFact) -> list[Allocation]:
        """Apply one fill; returns the slices of the sells it (re)computed (see ApplyOutcome)."""
        return self._apply(fill)[0]

    def apply_detailed(self, fill: FillFact) -> ApplyOutcome:
        """Apply one fill; a fill already applied (same trade_id) is a no-op marked `duplicate`."""
        allocations, recomputed, replayed, duplicate = self._apply(fill)
        return ApplyOutcome(allocations, recomputed, replayed, duplicate)

    def _apply(self, fill: FillFact) -> tuple[list[Allocation], tuple[str, ...], bool, bool]:
        price, size, fee, is_buy = validate_fill(fill)
        key = fill_key(fill)
        qkey = (fill.portfolio_id, fill.symbol)
        q = self._queues.get(qkey)
        if q is not None and q.seen is not None and fill.trade_id in q.seen:
            return [], (), False, True
        if q is None or q.last_key is None or key > q.last_key:
            if self._saved is not None and qkey not in self._saved:
                self._saved[qkey] = _Saved(q) if q is not None else None
            if q is None:
                q = self._queues[qkey] = _Queue(fill.portfolio_id, fill.symbol, self.keep_history)
            with localcontext(ENGINE_CONTEXT):
                allocations = self._process(q, key, fill.trade_id, fill.order_id, fill.trade_time, is_buy,
                                            price, size, fee, Allocation)
            if q.history is not None and q.seen is not None:
                q.history.append((key, fill))
                q.seen.add(fill.trade_id)
            return allocations, () if is_buy else (fill.trade_id,), False, False
        if q.history is None:
            raise OutOfOrderFill(
                f"fill {fill.trade_id} ({fill.trade_time.isoformat()}) is not after the last fill applied to "
                f"{fill.portfolio_id}/{fill.symbol}; this book keeps no history to replay"
            )
        return self._replay(qkey, q, fill, key)

    def _replay(self, qkey: QueueKey, old: _Queue, fill: FillFact, key: FillKey
                ) -> tuple[list[Allocation], tuple[str, ...], bool, bool]:
        """Recompute a queue with an out-of-order fill inserted; the old queue object stays untouched
        (so a failure here, or a rollback, leaves it as it was)."""
        assert old.history is not None and old.seen is not None
        history = list(old.history)
        history.insert(bisect_left(history, key, key=_history_key), (key, fill))
        q = _Queue(old.portfolio_id, old.symbol, True)
        allocations: list[Allocation] = []
        recomputed: list[str] = []
        with localcontext(ENGINE_CONTEXT):
            for k, f in history:
                price, size, fee, is_buy = validate_fill(f)
                out = self._process(q, k, f.trade_id, f.order_id, f.trade_time, is_buy, price, size, fee, Allocation)
                if k >= key and not is_buy:
                    allocations.extend(out)
                    recomputed.append(f.trade_id)
        q.history = history
        q.seen = old.seen | {fill.trade_id}
        if self._saved is not None and qkey not in self._saved:
            self._saved[qkey] = _Saved(old)
        self._queues[qkey] = q
        return allocations, tuple(recomputed), True, False

    def apply_rows(self, fills: Iterable[Sequence[Any]]) -> list[SliceRow]:
        """Fast path for one-pass rebuilds: fills as rows of `sql.FILLS_IN_ORDER` (trade_id, order_id,
        symbol, side, price, size, commission, trade_time, sequence_timestamp, portfolio_id, checked,
        trade_time's text; numerics as text), already in the total order; returns the slices as
        SliceRows. Same arithmetic as `apply`. Only on a book without history (keep_history=False)."""
        if self.keep_history:
            raise RuntimeError("apply_rows needs a book created with keep_history=False")
        if self._saved is not None:
            raise RuntimeError("apply_rows cannot be staged")
        rows: list[SliceRow] = []
        queues = self._queues
        zone, month_end = self._zone, self.config.month_end_convention
        with localcontext(ENGINE_CONTEXT):
            for trade_id, order_id, symbol, side, price, size, fee, trade_time, seq, portfolio_id, checked, text \
                    in fills:
                if checked:  # PostgreSQL's text of a NUMERIC in range: canonical, nothing to validate
                    p, s, f, is_buy = Decimal(price), Decimal(size), Decimal(fee), side == "BUY"
                else:  # raises the clear error of the real-time path
                    p, s, f, is_buy = validate(trade_id, order_id, symbol, side, Decimal(price), Decimal(size),
                                               Decimal(fee), trade_time, seq)
                key = (trade_time, seq or NO_SEQUENCE, trade_id)
                q = queues.get((portfolio_id, symbol))
                if q is None:
                    q = queues[(portfolio_id, symbol)] = _Queue(portfolio_id, symbol, False)
                elif q.last_key is not None and key <= q.last_key:
                    raise OutOfOrderFill(f"fill {trade_id} is not after the last fill of {portfolio_id}/{symbol}")
                if is_buy:  # _process's buy branch, inlined: half of all fills
                    lot = _Lot(trade_id, order_id, trade_time, p, s, f,
                               _anniversary(trade_time.astimezone(zone).date(), month_end))
                    lot.time_text = text
                    q.lots.append(lot)
                    q.last_key = key
                else:
                    rows.extend(self._process(q, key, trade_id, order_id, trade_time, False, p, s, f, None, text))
        return rows

    def _date(self, moment: datetime) -> date:
        return moment.astimezone(self._zone).date()  # aware: validated before

    def _process(self, q: _Queue, key: FillKey, trade_id: str, order_id: str, time: datetime, is_buy: bool,
                 price: Decimal, size: Decimal, fee: Decimal, make: Callable[..., Any] | None,
                 time_text: str = "") -> list[Any]:
        if is_buy:
            last_short = _anniversary(self._date(time), self.config.month_end_convention)
            q.lots.append(_Lot(trade_id, order_id, time, price, size, fee, last_short))
            q.last_key = key
            return []
        allocations, consumed, partial, pnl = self._plan_sell(q, trade_id, order_id, time, price, size, fee, make,
                                                             time_text)
        # Mutate only after every slice was computed, so an arithmetic error changes nothing.
        for _ in range(consumed):
            q.lots.popleft()
        if partial is not None:
            lot, remaining, basis = partial
            lot.remaining = remaining
            lot.basis_remaining = basis
        q.realized += pnl
        q.last_key = key
        return allocations

    def _plan_sell(self, q: _Queue, trade_id: str, order_id: str, time: datetime, price: Decimal, size: Decimal,
                   fee: Decimal, make: Callable[..., Any] | None, time_text: str = ""
                   ) -> tuple[list[Any], int, tuple[_Lot, Decimal, Decimal] | None, Decimal]:
        """The slices of one sell, without changing anything. `make` builds each slice from the
        Allocation fields (None: SliceRows, the rebuild's format)."""
        sell_date = self._date(time)
        sell_fpu = canon(fee / size)
        sell = (q.portfolio_id, q.symbol, order_id, trade_id, price, sell_fpu, time_text) if make is None else None
        proceeds_left = size * price
        net_left = proceeds_left - fee
        to_sell = size
        pnl_total = ZERO
        allocations: list[Any] = []
        consumed = 0
        partial: tuple[_Lot, Decimal, Decimal] | None = None
        for lot in q.lots:
            if not to_sell:
                break
            lot_left = lot.remaining
            if lot_left <= to_sell:
                part = lot_left
                basis = lot.basis_remaining  # last slice of the lot: the exact remainder
                consumed += 1
            else:
                part = to_sell
                basis = money(part * lot.price + part * lot.fee / lot.size)
                partial = (lot, lot_left - part, lot.basis_remaining - basis)
            to_sell -= part
            if to_sell:
                proceeds = money(part * price)
                net = money(part * price - part * fee / size)
                proceeds_left -= proceeds
                net_left -= net
            else:
                proceeds, net = proceeds_left, net_left
            pnl = net - basis
            pnl_total += pnl
            term = HoldingTerm.LONG if sell_date > lot.last_short_date else HoldingTerm.SHORT
            if make is None:
                allocations.append((sell, lot, len(allocations), part, basis, proceeds, net, pnl, term))
            else:
                allocations.append(make(
                    q.portfolio_id, q.symbol, order_id, lot.order_id, trade_id, lot.trade_id, len(allocations), part,
                    lot.price, price, lot.fee_per_unit, sell_fpu, basis, proceeds, net, pnl, lot.time, time, term,
                    False))
        if to_sell:
            pnl_total += net_left
            term = self.config.missing_basis_term
            if make is None:
                allocations.append((sell, None, len(allocations), to_sell, ZERO, proceeds_left, net_left, net_left,
                                    term))
            else:
                allocations.append(make(
                    q.portfolio_id, q.symbol, order_id, None, trade_id, None, len(allocations), to_sell, ZERO, price,
                    ZERO, sell_fpu, ZERO, proceeds_left, net_left, net_left, None, time, term, True))
        return allocations, consumed, partial, pnl_total

    def knows(self, fill: FillFact) -> bool:
        """Whether `fill` (its trade id) is applied to this book. A book that keeps no history cannot tell
        and answers True."""
        q = self._queues.get((fill.portfolio_id, fill.symbol))
        return q is not None and (q.seen is None or fill.trade_id in q.seen)

    # ---- staging --------------------------------------------------------------------------------
    @property
    def staging(self) -> bool:
        return self._saved is not None

    def begin(self) -> None:
        """Start recording changes so that `rollback()` can undo them."""
        if self._saved is not None:
            raise RuntimeError("FifoBook.begin(): a stage is already open")
        self._saved = {}

    def commit(self) -> None:
        """Keep everything applied since `begin()`."""
        self._saved = None

    def rollback(self) -> None:
        """Undo everything applied since `begin()`."""
        saved, self._saved = self._saved, None
        if saved:
            self.undone += 1
        for qkey, state in (saved or {}).items():
            if state is None:
                self._queues.pop(qkey, None)
            else:
                self._queues[qkey] = state.restore()

    # ---- reading --------------------------------------------------------------------------------
    def position(self, symbol: str, portfolio_id: str = "default") -> PositionSnapshot:
        q = self._queues.get((portfolio_id, symbol))
        if q is None:
            return PositionSnapshot(symbol, portfolio_id, ZERO, ZERO, None, ZERO, None, 0)
        with localcontext(ENGINE_CONTEXT):
            size = cost = notional = ZERO
            for lot in q.lots:
                size += lot.remaining
                cost += lot.basis_remaining
                notional += lot.remaining * lot.price
            avg = notional / size if size else None
            opened = q.lots[0].time if q.lots else None
            return PositionSnapshot(symbol, portfolio_id, size, cost, avg, q.realized, opened, len(q.lots))

    def positions(self) -> list[PositionSnapshot]:
        """Every queue the book has seen (flat ones included), sorted by portfolio and symbol."""
        return [self.position(sym, pid) for pid, sym in sorted(self._queues)]

    def open_lots(self, symbol: str, portfolio_id: str = "default") -> list[OpenLot]:
        q = self._queues.get((portfolio_id, symbol))
        if q is None:
            return []
        return [OpenLot(lot.trade_id, lot.order_id, lot.time, lot.price, lot.size, lot.remaining,
                        lot.basis_remaining) for lot in q.lots]

    def fill_count(self) -> int:
        return sum(len(q.history) for q in self._queues.values() if q.history is not None)


def allocate_all(fills: Iterable[FillFact], config: EngineConfig | None = None) -> list[Allocation]:
    """Every slice for a set of fills, computed in the total order (what a rebuild writes)."""
    ordered = sorted(fills, key=fill_key)
    seen: set[str] = set()
    book = FifoBook(config, keep_history=False)
    out: list[Allocation] = []
    for fill in ordered:
        if fill.trade_id in seen:
            raise ValueError(f"duplicate trade_id {fill.trade_id}")
        seen.add(fill.trade_id)
        out.extend(book.apply(fill))
    return out
