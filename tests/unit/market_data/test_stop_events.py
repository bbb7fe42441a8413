"""Which events one price update produces (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from core.settings import load_settings
from market_data.stop_events import TrailingEvent, TrailingEventKind, trailing_events_for_step
from market_data.trailing_stop import TrailingParams, TrailingStop, advance, start_trailing

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PARAMS = TrailingParams.from_settings(load_settings(trailing_activation_pct=D("3.5"), trailing_min_distance_pct=D(1),
                                                    trailing_max_distance_pct=D(2), trailing_breakeven=False))


def kinds(before: TrailingStop, price: str, t: int) -> tuple[TrailingStop, list[TrailingEventKind],
                                                              list[TrailingEvent]]:
    step = advance(before, D(price), None, T0 + timedelta(seconds=t), PARAMS)
    events = trailing_events_for_step(before, step, D(price), D("2"), T0 + timedelta(seconds=t))
    return step.stop, [e.kind for e in events], events


def test_a_life_produces_activated_moved_updated_triggered_in_order() -> None:
    stop = start_trailing("BTC-USD", D("100"), D("100"), None, T0)
    stop, got, _ = kinds(stop, "100.5", 1)
    assert got == [TrailingEventKind.UPDATED]  # a new high while inactive
    stop, got, events = kinds(stop, "104", 2)
    assert got == [TrailingEventKind.ACTIVATED]
    assert events[0].stop_before is None and events[0].stop_after == stop.current_stop and events[0].state == "active"
    stop, got, _ = kinds(stop, "104.1", 3)
    assert got == [TrailingEventKind.UPDATED]  # high raised by less than a step: the stop stays
    before = stop.current_stop
    stop, got, events = kinds(stop, "106", 4)
    assert got == [TrailingEventKind.STOP_MOVED]
    assert events[0].stop_before == before and events[0].stop_after == stop.current_stop
    assert before is not None and stop.current_stop is not None and stop.current_stop > before
    assert events[0].position_size == D("2") and events[0].price == D("106")
    stop, got, _ = kinds(stop, "105.5", 5)
    assert got == []  # no new high, no hit: nothing happened
    assert stop.current_stop is not None
    stop, got, events = kinds(stop, str(stop.current_stop - D("0.01")), 6)
    assert got == [TrailingEventKind.TRIGGERED] and events[0].state == "triggered"
    _, got, _ = kinds(stop, "90", 7)
    assert got == []  # triggered is final
