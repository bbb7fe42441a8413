"""Protective stop: the pure rate-limit decision, in-place edits, the cancel-and-replace fallback, no orphans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.clock import ManualClock
from core.enums import Side
from core.metrics import PROTECTIVE_UNPROTECTED_SECONDS
from core.settings import TradingSettings
from exchange.models import OrderKind, OrderRequest
from market_data.protective_stop import (
    CLIENT_ID_PREFIX,
    ProtectiveOrder,
    ProtectiveParams,
    ProtectiveStopManager,
    client_order_id,
    decide_move,
)
from tests.unit.market_data.inmemory import StopBook

D = Decimal
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
REFUSED = "COMMANDER_REJECTED_EDIT_ORDER"
P = ProtectiveParams(min_interval_s=60.0, min_improvement_pct=D("0.1"), bypass_pct=D("1.0"))


@pytest.mark.parametrize(("placed", "new", "ago_s", "move", "why"), [
    (None, "100", None, True, "no protective stop yet"),
    ("100", "100", 3600, False, "not higher"),
    ("100", "99", 3600, False, "not higher"),
    ("100", "100.2", 30, False, "moved less than"),  # enough improvement, too soon
    ("100", "100.05", 120, False, "< 0.1"),  # late enough, too small
    ("100", "100.1", 60, True, "improvement"),  # both limits exactly met
    ("100", "101", 1, True, "bypass"),  # ≥ 1 % bypasses the interval …
    ("100", "101.5", 0, True, "bypass"),
    ("100", "100.99", 1, False, "moved less than"),  # … just under 1 % does not
])
def test_decide_move(placed: str | None, new: str, ago_s: float | None, move: bool, why: str) -> None:
    last = None if ago_s is None else T0 - timedelta(seconds=ago_s)
    decision = decide_move(None if placed is None else D(placed), D(new), last, T0, P)
    assert decision.move is move and why in decision.why


def test_size_change_forces_a_move() -> None:
    assert decide_move(D("100"), D("100"), T0, T0, P, size_changed=True).move


def test_params_from_settings() -> None:
    assert ProtectiveParams.from_settings(TradingSettings()) == P


def make(book: StopBook) -> tuple[ProtectiveStopManager, ManualClock, list[ProtectiveOrder | None]]:
    clock = ManualClock(T0)
    changes: list[ProtectiveOrder | None] = []
    manager = ProtectiveStopManager(book, TradingSettings(protective_stop_enabled=True), clock,
                                    on_change=lambda _s, o: changes.append(o))
    return manager, clock, changes


async def test_places_then_rate_limits_then_replaces() -> None:
    book = StopBook(edit_refuses=REFUSED)  # the cancel-and-replace fallback
    manager, clock, changes = make(book)
    first = await manager.sync("SOL-USD", D("2.0004"), D("101.505"))
    assert first is not None and first.stop_price == D("101.50") and first.size == D("2.000")
    request = book.orders[first.order_id].request
    assert request.kind is OrderKind.STOP_LIMIT_GTC and request.stop_direction == "STOP_DIRECTION_STOP_DOWN"
    assert request.limit_price is not None and request.limit_price < request.stop_price
    assert request.client_order_id.startswith(CLIENT_ID_PREFIX)

    clock.advance(10)
    assert await manager.sync("SOL-USD", D("2"), D("101.8")) == first  # too soon: nothing sent
    assert len(book.log) == 1

    observed_before = _unprotected_count()
    clock.advance(60)
    second = await manager.sync("SOL-USD", D("2"), D("101.8"))
    assert second is not None and second.order_id != first.order_id
    assert [o.order_id for o in book.open_orders()] == [second.order_id]  # the old one is gone
    assert book.log[-3:] == [f"edit {first.order_id}", f"cancel {first.order_id}", f"create {second.client_order_id}"]
    assert _unprotected_count() == observed_before + 1
    assert changes[-1] == second


async def test_a_failed_cancel_never_leads_to_a_second_stop() -> None:
    book = StopBook(edit_refuses=REFUSED)  # the cancel-and-replace fallback
    manager, clock, _ = make(book)
    first = await manager.sync("SOL-USD", D("2"), D("100"))
    clock.advance(120)
    book.cancel_failure = "EXCHANGE_BUSY"
    assert await manager.sync("SOL-USD", D("2"), D("103")) == first
    book.cancel_failure, book.cancel_raises = None, True
    assert await manager.sync("SOL-USD", D("2"), D("103")) == first
    assert len(book.open_orders()) == 1


async def test_a_filled_stop_is_not_replaced() -> None:
    book = StopBook(edit_refuses=REFUSED)  # the cancel-and-replace fallback
    manager, clock, changes = make(book)
    await manager.sync("SOL-USD", D("2"), D("100"))
    book.cancel_failure = "ORDER_IS_FULLY_FILLED"
    clock.advance(120)
    assert await manager.sync("SOL-USD", D("2"), D("103")) is None
    assert manager.order("SOL-USD") is None and changes[-1] is None
    assert sum(1 for line in book.log if line.startswith("create")) == 1


async def test_rejected_replacement_leaves_nothing_tracked_and_retries_next_time() -> None:
    book = StopBook(edit_refuses=REFUSED)  # the cancel-and-replace fallback
    manager, clock, _ = make(book)
    await manager.sync("SOL-USD", D("2"), D("100"))
    clock.advance(120)
    book.create_rejects = True
    assert await manager.sync("SOL-USD", D("2"), D("103")) is None
    assert book.open_orders() == []
    book.create_rejects = False
    again = await manager.sync("SOL-USD", D("2"), D("103"))  # no stop → placed at once, no rate limit
    assert again is not None and len(book.open_orders()) == 1


async def test_orphans_are_cancelled() -> None:
    book = StopBook()
    manager, _, _ = make(book)
    kept = await manager.sync("SOL-USD", D("2"), D("100"))
    gone = await manager.sync("ETH-USD", D("1"), D("2000"))
    assert kept is not None and gone is not None
    book.create_raises = True  # a placement that timed out may still rest on the book …
    assert await manager.sync("LTC-USD", D("1"), D("80")) is None
    book.create_raises = False
    stray = await book.create_order(OrderRequest(
        client_order_id=client_order_id("LTC-USD", D("80"), D("1")), product_id="LTC-USD", side=Side.SELL,
        kind=OrderKind.STOP_LIMIT_GTC, base_size=D("1"), limit_price=D("79.6"), stop_price=D("80")))
    assert stray.order_id is not None
    cancelled = await manager.sweep_orphans(["SOL-USD"])  # ETH-USD closed, LTC-USD untracked
    assert set(cancelled) == {gone.order_id, stray.order_id}
    assert [o.order_id for o in book.open_orders()] == [kept.order_id]
    assert manager.order("ETH-USD") is None


async def test_remove_cancels_the_tracked_stop() -> None:
    book = StopBook()
    manager, _, _ = make(book)
    await manager.sync("SOL-USD", D("2"), D("100"))
    assert await manager.remove("SOL-USD", "position closed")
    assert book.open_orders() == [] and manager.order("SOL-USD") is None


def _unprotected_count() -> float:
    for metric in PROTECTIVE_UNPROTECTED_SECONDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                return sample.value
    return 0.0


def test_degraded_mode_moves_only_by_the_bypass_threshold() -> None:
    late = T0 - timedelta(seconds=3600)
    assert decide_move(D("100"), D("100.5"), late, T0, P).move
    refused = decide_move(D("100"), D("100.5"), late, T0, P, degraded=True)
    assert not refused.move and "degraded" in refused.why
    assert decide_move(D("100"), D("101"), late, T0, P, degraded=True).move


async def test_moves_are_in_place_edits_with_zero_window() -> None:
    book = StopBook()
    manager, clock, changes = make(book)
    first = await manager.sync("SOL-USD", D("2"), D("100"))
    assert first is not None
    for i in range(1, 6):
        clock.advance(120)
        moved = await manager.sync("SOL-USD", D("2"), D(100 + i))
        assert moved is not None and moved.order_id == first.order_id and moved.stop_price == D(100 + i)
    assert book.edits == {first.order_id: 5}
    assert [line.split()[0] for line in book.log] == ["create"] + ["edit"] * 5
    assert [o.order_id for o in book.open_orders()] == [first.order_id]
    assert book.orders[first.order_id].request.stop_price == D("105") and changes[-1] == manager.order("SOL-USD")
    summary = manager.moves.summary()
    assert summary["moves"] == {"edit": 5, "cancel_replace": 0}
    assert summary["unprotected_max_s"]["edit"] == 0.0


async def test_a_refused_edit_falls_back_with_its_reason_and_window() -> None:
    book = StopBook(edit_refuses="ORDER_IS_ALREADY_BEING_REPLACED")
    manager, clock, _ = make(book)
    first = await manager.sync("SOL-USD", D("2"), D("100"))
    clock.advance(120)
    second = await manager.sync("SOL-USD", D("2"), D("103"))
    assert first is not None and second is not None and second.order_id != first.order_id
    record = manager.moves.records[-1]
    assert record.method == "cancel_replace" and record.refusal == "ORDER_IS_ALREADY_BEING_REPLACED"
    assert manager.moves.summary()["edit_refusals"] == {"ORDER_IS_ALREADY_BEING_REPLACED": 1}


async def test_an_edit_of_unknown_outcome_never_cancel_replaces() -> None:
    book = StopBook()
    manager, clock, _ = make(book)
    first = await manager.sync("SOL-USD", D("2"), D("100"))
    clock.advance(120)
    book.edit_raises = True
    assert await manager.sync("SOL-USD", D("2"), D("103")) == first
    assert not any(line.startswith("cancel") for line in book.log) and len(book.open_orders()) == 1
