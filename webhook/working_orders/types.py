"""Values of the working-order machinery: what is worked, its state, and the steps it took."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from core.enums import ExitReason, OrderSource, Side


class EntryOrderType(StrEnum):
    """How an entry is placed (ENTRY_ORDER_TYPE)."""

    POST_ONLY = "post_only"  # joins the best bid, maker or rejected; re-priced as the bid moves away
    LIMIT = "limit"  # limit at the best ask: takes what is there at no worse price, rests the rest
    MARKET = "market"  # market IOC sized in base units at the ask


class Purpose(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"


class WorkingState(StrEnum):
    WORKING = "working"
    FILLED = "filled"
    PARTIAL = "partial"  # TTL reached with part filled: that part is a position, the rest cancelled
    CANCELLED = "cancelled"  # TTL reached with nothing filled
    ESCALATED = "escalated"  # an exit turned into a market order (then FILLED/PARTIAL by its result)
    FAILED = "failed"
    # A child was sent but its answer never came: it may rest on the exchange. The working order
    # stays alive (nobody else re-sends or drops its child) until the exchange tells its fate.
    UNSURE = "unsure"

    @property
    def is_final(self) -> bool:
        return self not in (WorkingState.WORKING, WorkingState.ESCALATED, WorkingState.UNSURE)


class StepKind(StrEnum):
    PLACED = "placed"
    REPRICED = "repriced"
    POST_ONLY_REJECTED = "post_only_rejected"
    PLACE_RETRY = "place_retry"
    FILLED = "filled"  # (part of) the order filled
    TTL_CANCELLED = "ttl_cancelled"
    ESCALATED = "escalated"
    FINISHED = "finished"
    FAILED = "failed"
    OUTCOME_UNKNOWN = "outcome_unknown"  # a child's send got no answer: in doubt until the exchange tells
    UNSURE_SETTLED = "unsure_settled"  # the exchange told that child's fate (its order id, or none)


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    kind: StepKind
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "step": self.kind.value, **self.detail}


@dataclass(slots=True)
class WorkingOrder:
    """One intent worked on the book by one or more exchange orders (its children)."""

    id: str
    intent_key: str  # child client_order_ids derive from it (deterministic, never doubled)
    purpose: Purpose
    symbol: str
    side: Side
    order_type: EntryOrderType
    source: OrderSource
    target_size: Decimal  # base units, on the product's increment
    started_at: datetime
    deadline_at: datetime | None  # entries: TTL; exits: escalation time
    trigger: dict[str, Any] = field(default_factory=dict)
    exit_reason: ExitReason | None = None
    exit_target_price: Decimal | None = None
    exit_quote_price: Decimal | None = None
    hard_stop_price: Decimal | None = None  # exits: reaching it escalates to market at once
    state: WorkingState = WorkingState.WORKING
    limit_price: Decimal | None = None
    order_id: str | None = None  # the live child
    client_order_id: str | None = None
    children: int = 0  # child orders sent (the next child's attempt number)
    child_filled: Decimal = Decimal(0)  # filled size of the live child seen so far
    filled_before: Decimal = Decimal(0)  # filled size of earlier (cancelled/replaced) children
    reprice_count: int = 0
    post_only_rejections: int = 0
    escalated: bool = False
    child_ids: list[str] = field(default_factory=list)
    # False until the working order's row is written: with its first child's intent, in one statement.
    stored: bool = True
    unsure_coid: str | None = None  # the child whose send outcome is unknown (state UNSURE)
    # Entries: the best ask the sizing function checked the caps at (webhook/alerts/sizing.py). A buy
    # never rests above it, so re-pricing after the bid can never order more than was checked.
    price_ceiling: Decimal | None = None
    # Exits: the P&L of its children, read by the save of its final state (None: not read, or none has one).
    realized_pnl: Decimal | None = None

    @property
    def filled_size(self) -> Decimal:
        return self.filled_before + self.child_filled

    @property
    def posts_only(self) -> bool:
        return self.purpose is Purpose.ENTRY and self.order_type is EntryOrderType.POST_ONLY

    @property
    def remaining(self) -> Decimal:
        return max(Decimal(0), self.target_size - self.filled_size)


@dataclass(frozen=True, slots=True)
class BookTop:
    bid: Decimal
    ask: Decimal


@dataclass(frozen=True, slots=True)
class EntryParams:
    ttl_s: float
    max_reprices: int
    price_increment: Decimal


@dataclass(frozen=True, slots=True)
class ExitParams:
    limit_offset: Decimal  # sell limit = bid × (1 + offset)
    max_reprices: int
    price_increment: Decimal
