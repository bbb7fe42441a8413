"""Property tests of the FIFO engine (hypothesis)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal as D
from decimal import localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from core.enums import Side
from fifo_engine.engine import FifoBook, allocate_all
from fifo_engine.model import Allocation, FillFact, fill_key
from tests.unit.fifo.factories import T0

SYMBOLS = ("AAA-USD", "BBB-USD")


@st.composite
def fill_sets(draw: st.DrawFn, max_size: int = 30) -> list[FillFact]:
    n = draw(st.integers(min_value=1, max_value=max_size))
    ids = draw(st.permutations(range(n)))  # trade ids unrelated to time: ties break by id
    fills = []
    for i in range(n):
        minute = draw(st.integers(min_value=0, max_value=6))  # few distinct times → many ties
        seq = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=2)))
        fills.append(FillFact(
            trade_id=f"t{ids[i]:03d}",
            order_id=f"o{draw(st.integers(min_value=0, max_value=n // 2 + 1))}",
            symbol=draw(st.sampled_from(SYMBOLS)),
            side=draw(st.sampled_from((Side.BUY, Side.BUY, Side.SELL))),
            price=D(draw(st.integers(min_value=1, max_value=10_000_000))) / 100,
            size=D(draw(st.integers(min_value=1, max_value=3000))) / 1000,
            commission=D(draw(st.integers(min_value=0, max_value=700))) / 100,
            trade_time=T0 + timedelta(minutes=minute),
            sequence_timestamp=None if seq is None else T0 + timedelta(minutes=minute, microseconds=seq),
            portfolio_id=draw(st.sampled_from(("default", "default", "p2"))),
        ))
    return fills


def _by_sell(allocations: list[Allocation]) -> list[Allocation]:
    return sorted(allocations, key=lambda a: (a.sell_trade_id, a.slice_index))


def _incremental(arrival: list[FillFact]) -> tuple[list[Allocation], FifoBook]:
    """Apply in arrival order, keeping each sell's latest slices (what the ledger writes)."""
    book = FifoBook()
    final: dict[str, list[Allocation]] = {}
    for f in arrival:
        out = book.apply_detailed(f)
        for sell in out.recomputed_sells:
            final[sell] = [a for a in out.allocations if a.sell_trade_id == sell]
    return _by_sell([a for slices in final.values() for a in slices]), book


def _state(book: FifoBook) -> list[object]:
    return [(p, book.open_lots(p.symbol, p.portfolio_id)) for p in book.positions()]


@settings(max_examples=150, deadline=None)
@given(fill_sets())
def test_allocated_size_equals_min_of_sold_and_bought_and_no_negative_remaining(fills: list[FillFact]) -> None:
    allocations = allocate_all(fills)
    book = FifoBook()
    for f in sorted(fills, key=fill_key):
        book.apply(f)
    with localcontext(prec=80):
        for pid in ("default", "p2"):
            for sym in SYMBOLS:
                mine = [f for f in fills if (f.portfolio_id, f.symbol) == (pid, sym)]
                sold = sum((f.size for f in mine if f.side is Side.SELL), D(0))
                bought = sum((f.size for f in mine if f.side is Side.BUY), D(0))
                slices = [a for a in allocations if (a.portfolio_id, a.symbol) == (pid, sym)]
                matched = sum((a.allocated_size for a in slices if not a.missing_basis), D(0))
                assert sum((a.allocated_size for a in slices), D(0)) == sold
                assert matched <= min(sold, bought)
                if not any(a.missing_basis for a in slices):
                    assert matched == min(sold, bought)
                position = book.position(sym, pid)
                assert position.size == bought - matched >= 0
                assert all(lot.remaining > 0 for lot in book.open_lots(sym, pid))
        per_lot: dict[str, D] = defaultdict(D)
        for a in allocations:
            assert a.allocated_size > 0
            if a.buy_trade_id is not None:
                per_lot[a.buy_trade_id] += a.allocated_size
        sizes = {f.trade_id: f.size for f in fills}
        assert all(used <= sizes[lot] for lot, used in per_lot.items())


@settings(max_examples=150, deadline=None)
@given(fill_sets())
def test_sums_per_lot_and_per_sell_are_exact(fills: list[FillFact]) -> None:
    allocations = allocate_all(fills)
    book = FifoBook()
    for f in fills:
        book.apply(f)
    open_basis = {lot.buy_trade_id: lot.basis_remaining
                  for p in book.positions() for lot in book.open_lots(p.symbol, p.portfolio_id)}
    with localcontext(prec=80):
        for f in fills:
            if f.side is Side.BUY:
                basis = sum((a.cost_basis_usd for a in allocations if a.buy_trade_id == f.trade_id), D(0))
                assert basis + open_basis.get(f.trade_id, D(0)) == f.size * f.price + f.commission
            else:
                mine = [a for a in allocations if a.sell_trade_id == f.trade_id]
                assert [a.slice_index for a in mine] == list(range(len(mine)))
                assert sum((a.net_proceeds_usd for a in mine), D(0)) == f.size * f.price - f.commission
                assert sum((a.proceeds_usd for a in mine), D(0)) == f.size * f.price
                assert all(a.pnl_usd == a.net_proceeds_usd - a.cost_basis_usd for a in mine)


@settings(max_examples=150, deadline=None)
@given(fill_sets(), st.randoms(use_true_random=False))
def test_rebuild_equals_incremental_in_any_arrival_order(fills: list[FillFact], rnd: random.Random) -> None:
    arrival = list(fills)
    rnd.shuffle(arrival)
    incremental, book = _incremental(arrival)
    assert incremental == _by_sell(allocate_all(fills))
    fresh = FifoBook()
    for f in sorted(fills, key=fill_key):
        fresh.apply(f)
    assert _state(book) == _state(fresh)


@settings(max_examples=150, deadline=None)
@given(fill_sets(), st.randoms(use_true_random=False))
def test_arrival_order_within_the_same_timestamp_is_stable(fills: list[FillFact], rnd: random.Random) -> None:
    by_time: dict[object, list[FillFact]] = defaultdict(list)
    for f in sorted(fills, key=lambda f: f.trade_time):
        by_time[f.trade_time].append(f)
    shuffled: list[FillFact] = []
    for group in by_time.values():
        group = list(group)
        rnd.shuffle(group)
        shuffled.extend(group)
    in_time_order = sorted(fills, key=lambda f: f.trade_time)  # stable: the drawn order within a time
    first, book_a = _incremental(in_time_order)
    second, book_b = _incremental(shuffled)
    assert first == second
    assert _state(book_a) == _state(book_b)


@settings(max_examples=100, deadline=None)
@given(fill_sets(), st.integers(min_value=0, max_value=30), st.randoms(use_true_random=False))
def test_rollback_restores_the_book_exactly(fills: list[FillFact], cut: int, rnd: random.Random) -> None:
    arrival = list(fills)
    rnd.shuffle(arrival)
    before, after = arrival[:cut], arrival[cut:]
    book = FifoBook()
    reference = FifoBook()
    for f in before:
        book.apply(f)
        reference.apply(f)
    book.begin()
    for f in after:
        book.apply(f)
    book.rollback()
    assert _state(book) == _state(reference)
    # And the book still works normally afterwards.
    book.begin()
    for f in after:
        book.apply(f)
    book.commit()
    for f in after:
        reference.apply(f)
    assert _state(book) == _state(reference)
