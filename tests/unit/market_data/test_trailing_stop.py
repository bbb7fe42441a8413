"""The trailing-stop state machine: activation, ATR distance and clamp, steps, breakeven, time activation,
triggering, and a restore round trip through the table model."""

from __future__ import annotations

import random
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

import pytest

from core.enums import TrailingState
from core.settings import TradingSettings
from market_data.trailing_stop import (
    TrailingParams,
    TrailingStep,
    TrailingStop,
    advance,
    initial_stop,
    raised_stop,
    should_activate,
    start_trailing,
    trail_distance,
)
from market_data.trailing_store import from_row, to_row
from shared_data.models import TrailingStopState

D = Decimal
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
P = TrailingParams.from_settings(TradingSettings())  # activation 3.5 %, 2×ATR, 0.5 ATR steps, clamp 1–2 %
ATR = D("1")


def fresh(price: str = "100") -> TrailingStop:
    return start_trailing("SOL-USD", D("100"), D(price), opened_at=T0 - timedelta(hours=2), now=T0)


def feed(stop: TrailingStop, *prices: str, atr: Decimal | None = ATR, params: TrailingParams = P) -> TrailingStop:
    for i, price in enumerate(prices):
        stop = advance(stop, D(price), atr, T0 + timedelta(seconds=i + 1), params).stop
    return stop


def test_starts_inactive_without_a_stop() -> None:
    stop = fresh()
    assert stop.state is TrailingState.INACTIVE and stop.current_stop is None
    assert stop.highest_price == stop.lowest_price == D("100") and stop.update_count == 0


def test_rising_below_activation_only_raises_the_high() -> None:
    step = advance(fresh(), D("103"), ATR, T0, P)
    assert step.changed and not step.activated
    assert step.stop.state is TrailingState.INACTIVE and step.stop.highest_price == D("103")
    assert step.stop.current_stop is None and step.stop.update_count == 1


def test_activates_at_the_threshold_two_atr_below() -> None:
    step = advance(fresh(), D("103.5"), ATR, T0, P)
    assert step.activated and step.changed and not step.stop_moved
    assert step.stop.state is TrailingState.ACTIVE and step.stop.activated_at == T0
    assert step.stop.current_stop == D("101.5")  # 103.5 − 2 × 1


def test_stop_moves_up_in_whole_atr_steps_and_never_down() -> None:
    stop = feed(fresh(), "103.5")  # stop 101.5
    moved = advance(stop, D("104"), ATR, T0, P)  # candidate 102: one step of 0.5
    assert moved.stop_moved and moved.stop.current_stop == D("102")
    small = advance(moved.stop, D("104.2"), ATR, T0, P)  # candidate 102.2: less than a step
    assert not small.stop_moved and small.changed and small.stop.current_stop == D("102")
    assert small.stop.highest_price == D("104.2")
    two = advance(small.stop, D("105.3"), ATR, T0, P)  # candidate 103.3: two whole steps from 102
    assert two.stop.current_stop == D("103")
    wider_atr = advance(two.stop, D("105.3"), D("5"), T0, P)  # a bigger ATR never lowers the stop
    assert wider_atr.stop.current_stop == D("103")
    dip = advance(two.stop, D("103.5"), ATR, T0, P)
    assert not dip.changed and dip.stop.current_stop == D("103") and dip.stop.lowest_price == D("100")


def test_triggers_at_or_below_the_stop_and_stays_triggered() -> None:
    stop = feed(fresh(), "103.5", "104", "105.3")  # stop 103
    hit = advance(stop, D("103"), ATR, T0, P)
    assert hit.triggered and hit.stop.state is TrailingState.TRIGGERED and hit.stop.is_hit(D("200"))
    again = advance(hit.stop, D("110"), ATR, T0, P)
    assert not again.changed and again.stop is hit.stop


@pytest.mark.parametrize(("atr", "distance"), [
    (D("1"), D("2")),  # 2 × ATR inside the clamp
    (D("5"), D("2.07")),  # 10 → clamped to 2 % of 103.5
    (D("0.1"), D("1.035")),  # 0.2 → clamped to 1 % of 103.5
    (None, D("2.07")),  # unknown ATR: the widest distance
])
def test_distance_is_clamped(atr: Decimal | None, distance: Decimal) -> None:
    assert trail_distance(D("103.5"), atr, P) == distance
    activated = advance(fresh(), D("103.5"), atr, T0, P).stop
    assert activated.current_stop == D("103.5") - distance


def test_breakeven_keeps_the_stop_at_or_above_entry() -> None:
    low_activation = replace(P, activation_pct=D("1"))
    with_be = advance(fresh(), D("101"), D("5"), T0, low_activation).stop  # 101 − 2.02 = 98.98
    assert with_be.current_stop == D("100")
    without = advance(fresh(), D("101"), D("5"), T0, replace(low_activation, breakeven=False)).stop
    assert without.current_stop == D("98.98")


def test_time_based_activation_needs_age_and_profit() -> None:
    timed = replace(P, time_activation_s=3600.0)  # the position is two hours old
    in_profit = advance(fresh(), D("100.5"), ATR, T0, timed)
    assert in_profit.activated and in_profit.stop.current_stop == D("100")  # breakeven floor
    at_loss = advance(fresh(), D("99.9"), ATR, T0, timed)
    assert not at_loss.activated
    too_young = start_trailing("SOL-USD", D("100"), D("100"), opened_at=T0 - timedelta(minutes=5), now=T0)
    assert not advance(too_young, D("100.5"), ATR, T0, timed).activated


def test_activation_trails_from_the_activation_price_not_an_old_high() -> None:
    timed = replace(P, time_activation_s=3600.0)
    seen_high = feed(fresh(), "103")  # high 103 while inactive
    step = advance(seen_high, D("100.8"), ATR, T0, timed)
    assert step.activated and not step.triggered
    assert step.stop.highest_price == D("100.8") and step.stop.current_stop == D("100")


def test_advance_builds_a_new_value_and_leaves_the_old_one_alone() -> None:
    before = feed(fresh(), "103.5")
    snapshot = to_row(before)
    after = advance(before, D("106"), ATR, T0, P).stop
    assert after is not before and to_row(before) == snapshot
    assert after.update_count == before.update_count + 1


def test_atr_is_kept_when_the_matrix_has_none() -> None:
    stop = feed(fresh(), "101", atr=D("1.5"))
    assert feed(stop, "101.2", atr=None).atr == D("1.5")


def test_restore_round_trip_continues_identically() -> None:
    live = feed(fresh(), "103.5", "104", "105.3")
    restored = from_row(TrailingStopState(**to_row(live)))
    assert restored == live
    assert feed(restored, "106.4", "107") == feed(live, "106.4", "107")


def test_bad_prices_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        start_trailing("SOL-USD", D("0"), D("1"), None, T0)
    with pytest.raises(ValueError, match="positive"):
        advance(fresh(), D("-1"), ATR, T0, P)


# ---- advance against its earlier form ------------------------------------------------------------------

ADVANCED = {"state", "highest_price", "lowest_price", "current_stop", "atr", "activated_at", "last_update_time",
            "update_count"}  # the fields advance owns; it must copy every other one


def reference_advance(stop: TrailingStop, price: Decimal, atr: Decimal | None, now: datetime,
                      params: TrailingParams) -> TrailingStep:
    """advance as it was written before it built its result field by field (with dataclasses.replace)."""
    if stop.state is TrailingState.TRIGGERED:
        return TrailingStep(stop=stop, changed=False)
    atr_now = (atr if atr is not None and atr > 0 else None) or stop.atr
    lowest = price if stop.lowest_price is None else min(stop.lowest_price, price)
    if price <= stop.highest_price and lowest == stop.lowest_price and atr_now == stop.atr and (
            (stop.state is TrailingState.INACTIVE and not should_activate(stop, price, now, params))
            or (stop.state is TrailingState.ACTIVE and stop.current_stop is not None and price > stop.current_stop)):
        return TrailingStep(stop=stop, changed=False)
    state: TrailingState = stop.state
    current, activated_at = stop.current_stop, stop.activated_at
    high = max(stop.highest_price, price)
    activated = False
    if state is TrailingState.INACTIVE and should_activate(stop, price, now, params):
        state, activated_at, activated = TrailingState.ACTIVE, now, True
        high = price
        current = initial_stop(stop.entry_price, price, atr_now, params)
    elif state is TrailingState.ACTIVE and current is not None:
        current = raised_stop(current, high, atr_now, params)
    triggered = state is TrailingState.ACTIVE and current is not None and price <= current
    if triggered:
        state = TrailingState.TRIGGERED
    stop_moved = not activated and current != stop.current_stop
    changed = activated or stop_moved or triggered or high != stop.highest_price
    new = replace(
        stop, state=state, highest_price=high, lowest_price=lowest, current_stop=current, atr=atr_now,
        activated_at=activated_at,
        last_update_time=now if changed else stop.last_update_time,
        update_count=stop.update_count + 1 if changed else stop.update_count,
    )
    return TrailingStep(stop=new, changed=changed, activated=activated, stop_moved=stop_moved, triggered=triggered)


def _same(a: TrailingStep, b: TrailingStep) -> bool:
    """Equal, and every Decimal written the same way (its digits and exponent: a stored row keeps them)."""
    return a == b and all(repr(getattr(a.stop, f.name)) == repr(getattr(b.stop, f.name)) for f in fields(TrailingStop))


@pytest.mark.parametrize("seed", range(12))
def test_advance_gives_the_states_its_earlier_form_gave(seed: int) -> None:
    """Random walks (two decimal places, some written with three), ATRs that come and go, every parameter
    variant: each step's result equals the replace-built one, field by field and digit by digit."""
    rng = random.Random(seed)
    variants = [P, replace(P, breakeven=False), replace(P, time_activation_s=600.0), replace(P, activation_pct=D("1")),
                replace(P, step_atr=D("0")), replace(P, min_distance_pct=D("0.5"), max_distance_pct=D("5"))]
    for params in variants:
        entry = D(rng.choice(["100", "100.00", "2.5", "0.0123"]))
        opened = T0 - timedelta(seconds=rng.choice([60, 3600, 7200]))
        stop = start_trailing("SOL-USD", entry, entry, opened_at=rng.choice([opened, None]), now=T0)
        if rng.random() < 0.5:  # an exchange stop's fields must ride along untouched
            stop = replace(stop, stop_order_id="stop-1", stop_order_price=entry * D("0.97"), stop_order_moved_at=T0)
        price = entry
        for i in range(400):
            move = D(rng.randint(-30, 32)) / 1000 * entry
            price = max(entry / 10, price + move).quantize(D("0.001") if rng.random() < 0.1 else entry / 10000,
                                                           rounding=ROUND_FLOOR)
            atr = rng.choice([None, D("0"), entry / 100, entry / 40, D(rng.randint(1, 50)) / 1000 * entry])
            now = T0 + timedelta(seconds=30 * i)
            got, want = advance(stop, price, atr, now, params), reference_advance(stop, price, atr, now, params)
            assert _same(got, want), (seed, i, got, want)
            stop = got.stop
            if stop.is_triggered and rng.random() < 0.2:  # a new position after the exit
                stop = start_trailing("SOL-USD", price, price, opened_at=now, now=now)


def test_advance_copies_every_field_it_does_not_own() -> None:
    """A field added to TrailingStop later must not be dropped by advance: every field outside ADVANCED keeps
    the very object it had (markers stand in for values of any type)."""
    others = [f.name for f in fields(TrailingStop) if f.name not in ADVANCED]
    assert {"symbol", "entry_price", "opened_at", "stop_order_id"} <= set(others)
    base = start_trailing("SOL-USD", D("100"), D("100"), opened_at=T0 - timedelta(hours=2), now=T0)
    markers = {name: object() for name in others if name not in ("entry_price", "opened_at")}
    stop = replace(base, **markers)  # type: ignore[arg-type]
    for price in ("99", "103.5", "104", "101"):  # a new low, activation, a raised stop, the trigger
        step = advance(stop, D(price), ATR, T0, P)
        assert step.changed or step.stop.lowest_price != stop.lowest_price
        for name in others:
            assert getattr(step.stop, name) is getattr(stop, name), name
        stop = step.stop
