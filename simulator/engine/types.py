"""The engine's configuration and the outcomes of order entry and cancels."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from simulator.engine.book import BookParams
from simulator.engine.orders import Rejection, SimOrder

AcceptMode = Literal["normal", "stuck_pending", "fail"]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    seed: int = 42
    volatility: Decimal = Decimal("0.0005")  # per tick
    drift: Decimal = Decimal("0")  # per tick
    product_params: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # id → (volatility, drift)
    maker_fee_rate: Decimal = Decimal("0.006")
    taker_fee_rate: Decimal = Decimal("0.012")
    book: BookParams = field(default_factory=BookParams)
    maker_fill_notional_per_tick: Decimal = Decimal("10000")  # resting-order liquidity per tick through the price
    mean_tick_volume_usd: Decimal = Decimal("2000")
    tick_interval_s: float = 1.0
    history_minutes: int = 1500
    cancel_delay_s: float = 0.0  # CANCEL_QUEUED lingers this long (fills may still land)
    emit_cancel_queued: bool = True
    bracket_stop_slippage: Decimal = Decimal("0.05")
    fill_on_touch: bool = False  # resting limits fill when the price touches (True) or trades through
    user_id: str = "3a0c5d1e-7b7f-4a52-9c1e-0d6f2b8e4a11"
    portfolio_id: str = "5f1c5e8c-2b1a-4c1e-9d8a-0b7d6c1f2a10"


@dataclass(frozen=True, slots=True)
class CreateOutcome:
    order: SimOrder | None = None
    rejection: Rejection | None = None
    spec_raw: dict[str, object] | None = None
    duplicate: bool = False

    @property
    def success(self) -> bool:
        return self.order is not None


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    order_id: str
    success: bool
    failure_reason: str = "UNKNOWN_CANCEL_FAILURE_REASON"
