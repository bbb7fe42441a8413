"""What happened to a trailing stop or an exit, as plain values (history beside state, DESIGN §6).

The sentinel builds these next to every state change and hands both to the trailing writer, which
writes the new state and its events in one transaction. `trailing_events_for_step` is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from market_data.trailing_stop import TrailingStep, TrailingStop


class TrailingEventKind(StrEnum):
    CREATED = "created"
    ACTIVATED = "activated"
    UPDATED = "updated"  # the high was raised, the stop stayed
    STOP_MOVED = "stop_moved"  # the sentinel decided a higher stop
    EXCHANGE_STOP_PLACED = "exchange_stop_placed"
    EXCHANGE_STOP_EDITED = "exchange_stop_edited"  # an in-place edit (Coinbase edit_order)
    EXCHANGE_STOP_REPLACED = "exchange_stop_replaced"  # cancel-and-replace
    EXCHANGE_STOP_FAILED = "exchange_stop_failed"
    TRIGGERED = "triggered"
    REMOVED = "removed"  # carries the final state
    WARNING = "warning"


class ExitEventKind(StrEnum):
    DECIDED = "decided"
    ORDER_SENT = "order_sent"
    REPRICED = "repriced"  # a live exit replaced after it rested too long
    ESCALATED = "escalated"  # a harder exit (hard stop) replaced a live softer one
    FILLED = "filled"
    FAILED = "failed"


# Exchange-side acknowledgements of a decided stop (diagnose: moves decided vs acknowledged).
ACKNOWLEDGED_KINDS = frozenset({TrailingEventKind.EXCHANGE_STOP_PLACED, TrailingEventKind.EXCHANGE_STOP_EDITED,
                                TrailingEventKind.EXCHANGE_STOP_REPLACED})


@dataclass(frozen=True, slots=True)
class TrailingEvent:
    symbol: str
    kind: TrailingEventKind
    at: datetime
    state: str
    entry_price: Decimal
    position_opened_at: datetime | None
    position_size: Decimal | None = None
    price: Decimal | None = None
    highest_price: Decimal | None = None
    stop_before: Decimal | None = None
    stop_after: Decimal | None = None
    order_id: str | None = None
    detail: str | None = None
    final_state: dict[str, str | int | None] | None = None


@dataclass(frozen=True, slots=True)
class ExitEvent:
    symbol: str
    kind: ExitEventKind
    at: datetime
    reason: str | None
    attempt: int | None = None
    order_id: str | None = None
    order_kind: str | None = None
    size: Decimal | None = None
    target_price: Decimal | None = None
    quote_price: Decimal | None = None
    detail: str | None = None


def trailing_event(stop: TrailingStop, kind: TrailingEventKind, at: datetime, *, size: Decimal | None = None,
                   price: Decimal | None = None, stop_before: Decimal | None = None,
                   stop_after: Decimal | None = None, order_id: str | None = None, detail: str | None = None,
                   final: dict[str, str | int | None] | None = None) -> TrailingEvent:
    return TrailingEvent(
        symbol=stop.symbol, kind=kind, at=at, state=stop.state.value, entry_price=stop.entry_price,
        position_opened_at=stop.opened_at, position_size=size, price=price, highest_price=stop.highest_price,
        stop_before=stop_before, stop_after=stop_after, order_id=order_id, detail=detail, final_state=final,
    )


def trailing_events_for_step(before: TrailingStop, step: TrailingStep, price: Decimal, size: Decimal,
                             at: datetime) -> list[TrailingEvent]:
    """The events of one price update, in the order they happened (activation, move, trigger)."""
    new = step.stop
    if not step.changed:
        return []
    kinds: list[TrailingEventKind] = []
    if step.activated:
        kinds.append(TrailingEventKind.ACTIVATED)
    elif step.stop_moved:
        kinds.append(TrailingEventKind.STOP_MOVED)
    elif new.highest_price != before.highest_price and not step.triggered:
        kinds.append(TrailingEventKind.UPDATED)
    if step.triggered:
        kinds.append(TrailingEventKind.TRIGGERED)
    return [trailing_event(new, kind, at, size=size, price=price, stop_before=before.current_stop,
                           stop_after=new.current_stop) for kind in kinds]
