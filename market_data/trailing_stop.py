"""The trailing stop of one position: a pure state machine, inactive → active → triggered.

Rules (DESIGN §4, thresholds from TradingSettings):
- It activates when the price is `trailing_activation_pct` above the entry, or (optional) once the
  position is `trailing_time_activation_s` old and in profit.
- Its distance below the high is `trailing_atr_multiplier` × ATR, clamped to
  [`trailing_min_distance_pct`, `trailing_max_distance_pct`] % of the reference price. Without an ATR
  the widest allowed distance is used, so a missing indicator never tightens a stop.
- The stop moves only up, in whole steps of `trailing_step_atr` × ATR.
- With `trailing_breakeven` the stop is never below the entry price.
- Once the price is at or below an active stop the state is TRIGGERED, which is final.

`advance` never mutates: it computes the next values first and builds one new frozen value.
`update_count` counts meaningful changes (high raised, activation, stop moved, trigger); a change of
only the lowest price or the ATR is carried along but is not worth a write on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from core.enums import TrailingState
from core.money import pct_change
from core.settings import TradingSettings

HUNDRED = Decimal(100)
ONE_STEP = Decimal(1)  # the stop moves only when it can rise by at least one whole step


@dataclass(frozen=True, slots=True)
class TrailingParams:
    activation_pct: Decimal
    atr_multiplier: Decimal
    step_atr: Decimal
    min_distance_pct: Decimal
    max_distance_pct: Decimal
    breakeven: bool
    time_activation_s: float | None

    @classmethod
    def from_settings(cls, settings: TradingSettings) -> TrailingParams:
        return cls(
            activation_pct=settings.trailing_activation_pct,
            atr_multiplier=settings.trailing_atr_multiplier,
            step_atr=settings.trailing_step_atr,
            min_distance_pct=settings.trailing_min_distance_pct,
            max_distance_pct=settings.trailing_max_distance_pct,
            breakeven=settings.trailing_breakeven,
            time_activation_s=settings.trailing_time_activation_s,
        )


@dataclass(frozen=True, slots=True)
class TrailingStop:
    """State of one position's trailing stop (mirrors the trailing_stop_state row)."""

    symbol: str
    state: TrailingState
    entry_price: Decimal
    highest_price: Decimal  # highest price seen since creation, reset to the price at activation
    lowest_price: Decimal | None
    current_stop: Decimal | None  # None until active
    atr: Decimal | None
    activated_at: datetime | None
    opened_at: datetime | None
    last_update_time: datetime
    update_count: int = 0
    stop_order_id: str | None = None  # the exchange-side protective stop, when enabled
    stop_order_price: Decimal | None = None
    stop_order_moved_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.state is TrailingState.ACTIVE

    @property
    def is_triggered(self) -> bool:
        return self.state is TrailingState.TRIGGERED

    def is_hit(self, price: Decimal) -> bool:
        """True once triggered, or when an active stop is at or above `price`."""
        if self.state is TrailingState.TRIGGERED:
            return True
        return self.state is TrailingState.ACTIVE and self.current_stop is not None and price <= self.current_stop


@dataclass(frozen=True, slots=True)
class TrailingStep:
    """Result of one price update: the new value and what happened."""

    stop: TrailingStop
    changed: bool  # worth persisting
    activated: bool = False
    stop_moved: bool = False
    triggered: bool = False


def start_trailing(symbol: str, entry_price: Decimal, price: Decimal, opened_at: datetime | None,
                   now: datetime, atr: Decimal | None = None) -> TrailingStop:
    """A fresh, inactive trailing stop for a position seen at `price`."""
    if entry_price <= 0 or price <= 0:
        raise ValueError(f"trailing stop of {symbol} needs positive prices, got entry={entry_price} price={price}")
    return TrailingStop(
        symbol=symbol, state=TrailingState.INACTIVE, entry_price=entry_price, highest_price=price,
        lowest_price=price, current_stop=None, atr=_usable_atr(atr), activated_at=None, opened_at=opened_at,
        last_update_time=now, update_count=0,
    )


def trail_distance(reference: Decimal, atr: Decimal | None, params: TrailingParams) -> Decimal:
    """ATR distance below `reference`, clamped to [min, max] % of it; the max when ATR is unknown."""
    lowest = reference * params.min_distance_pct / HUNDRED
    widest = reference * params.max_distance_pct / HUNDRED
    if atr is None:
        return widest
    return min(max(params.atr_multiplier * atr, lowest), widest)


def step_size(distance: Decimal, atr: Decimal | None, params: TrailingParams) -> Decimal:
    """One step of the stop: step_atr × ATR, or the same fraction of the distance without an ATR."""
    if atr is None:
        return distance * params.step_atr / params.atr_multiplier
    return params.step_atr * atr


def should_activate(stop: TrailingStop, price: Decimal, now: datetime, params: TrailingParams) -> bool:
    if pct_change(price, stop.entry_price) >= params.activation_pct:
        return True
    if params.time_activation_s is None or stop.opened_at is None:
        return False
    age_s = (now - stop.opened_at).total_seconds()
    return age_s >= params.time_activation_s and price > stop.entry_price


def initial_stop(entry_price: Decimal, price: Decimal, atr: Decimal | None, params: TrailingParams) -> Decimal:
    candidate = price - trail_distance(price, atr, params)
    return max(candidate, entry_price) if params.breakeven else candidate


def raised_stop(current: Decimal, high: Decimal, atr: Decimal | None, params: TrailingParams) -> Decimal:
    """The stop after a new high: up by whole steps toward high − distance, never down."""
    distance = trail_distance(high, atr, params)
    candidate = high - distance
    if candidate <= current:
        return current
    step = step_size(distance, atr, params)
    if step <= 0:
        return candidate
    steps = ((candidate - current) / step).to_integral_value(rounding=ROUND_FLOOR)
    return current + steps * step if steps >= ONE_STEP else current


def advance(stop: TrailingStop, price: Decimal, atr: Decimal | None, now: datetime,
            params: TrailingParams) -> TrailingStep:
    """Feed one price (and the latest ATR, if any) to the state machine."""
    if stop.state is TrailingState.TRIGGERED:
        return TrailingStep(stop=stop, changed=False)
    if price <= 0:
        raise ValueError(f"trailing stop of {stop.symbol}: price must be positive, got {price}")
    atr_now = _usable_atr(atr) or stop.atr
    lowest = price if stop.lowest_price is None else min(stop.lowest_price, price)
    if price <= stop.highest_price and lowest == stop.lowest_price and atr_now == stop.atr and (
            (stop.state is TrailingState.INACTIVE and not should_activate(stop, price, now, params))
            or (stop.state is TrailingState.ACTIVE and stop.current_stop is not None and price > stop.current_stop)):
        return TrailingStep(stop=stop, changed=False)  # the common tick: no new high, low, ATR, activation or hit
    state: TrailingState = stop.state
    current, activated_at = stop.current_stop, stop.activated_at
    high = max(stop.highest_price, price)
    activated = False
    if state is TrailingState.INACTIVE and should_activate(stop, price, now, params):
        state, activated_at, activated = TrailingState.ACTIVE, now, True
        high = price  # trail from where it activated, not from a high seen while inactive
        current = initial_stop(stop.entry_price, price, atr_now, params)
    elif state is TrailingState.ACTIVE and current is not None:
        current = raised_stop(current, high, atr_now, params)
    triggered = state is TrailingState.ACTIVE and current is not None and price <= current
    if triggered:
        state = TrailingState.TRIGGERED
    stop_moved = not activated and current != stop.current_stop
    changed = activated or stop_moved or triggered or high != stop.highest_price
    # Built field by field, not with dataclasses.replace (which costs about twice as much, on the path of
    # every evaluation that is not a common tick): every field is named, the ones advance does not own copied
    # over (tests/unit/market_data/test_trailing_stop.py checks that no field is left out).
    new = TrailingStop(
        symbol=stop.symbol, state=state, entry_price=stop.entry_price, highest_price=high, lowest_price=lowest,
        current_stop=current, atr=atr_now, activated_at=activated_at, opened_at=stop.opened_at,
        last_update_time=now if changed else stop.last_update_time,
        update_count=stop.update_count + 1 if changed else stop.update_count,
        stop_order_id=stop.stop_order_id, stop_order_price=stop.stop_order_price,
        stop_order_moved_at=stop.stop_order_moved_at,
    )
    return TrailingStep(stop=new, changed=changed, activated=activated, stop_moved=stop_moved, triggered=triggered)


def _usable_atr(atr: Decimal | None) -> Decimal | None:
    return atr if atr is not None and atr > 0 else None
