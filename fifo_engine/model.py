"""Pure values of the FIFO engine: the fills it consumes, the allocation slices and positions it produces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any

from core.enums import HoldingTerm, Side

# A missing sequence_timestamp sorts first among fills with the same trade_time.
NO_SEQUENCE = datetime.min.replace(tzinfo=UTC)

FillKey = tuple[datetime, datetime, str]
_DIVISION = Context(prec=40)


@dataclass(frozen=True, slots=True)
class FillFact:
    """One exchange fill (USD-quoted pair: price and commission in USD)."""

    trade_id: str
    order_id: str
    symbol: str
    side: Side
    price: Decimal
    size: Decimal
    commission: Decimal
    trade_time: datetime
    portfolio_id: str = "default"
    sequence_timestamp: datetime | None = None
    liquidity_indicator: str | None = None


def fill_key(fill: FillFact) -> FillKey:
    """The total order of fills: trade_time, then sequence_timestamp (missing first), then trade_id
    (compared by code point, like `COLLATE "C"` in SQL). Trade ids are unique, so no two fills tie."""
    return (fill.trade_time, fill.sequence_timestamp or NO_SEQUENCE, fill.trade_id)


@dataclass(frozen=True, slots=True)
class Allocation:
    """One `fifo_allocations` row: a slice of one sell fill matched to one buy lot (or to missing basis).

    Money values are exact Decimals (≤ 18 decimal places, per-unit fees at 40 significant digits);
    nothing is rounded to cents here."""

    portfolio_id: str
    symbol: str
    sell_order_id: str
    buy_order_id: str | None
    sell_trade_id: str
    buy_trade_id: str | None
    slice_index: int
    allocated_size: Decimal
    buy_price: Decimal
    sell_price: Decimal
    buy_fees_per_unit: Decimal
    sell_fees_per_unit: Decimal
    cost_basis_usd: Decimal
    proceeds_usd: Decimal
    net_proceeds_usd: Decimal
    pnl_usd: Decimal
    buy_time: datetime | None
    sell_time: datetime
    holding_term: HoldingTerm
    missing_basis: bool

    def as_row(self) -> tuple[Any, ...]:
        """Values in ALLOCATION_COLUMNS order (for COPY / unnest inserts)."""
        return (
            self.portfolio_id, self.symbol, self.sell_order_id, self.buy_order_id, self.sell_trade_id,
            self.buy_trade_id, self.slice_index, self.allocated_size, self.buy_price, self.sell_price,
            self.buy_fees_per_unit, self.sell_fees_per_unit, self.cost_basis_usd, self.proceeds_usd,
            self.net_proceeds_usd, self.pnl_usd, self.buy_time, self.sell_time, self.holding_term.value,
            self.missing_basis,
        )


# Column order of Allocation.as_row(); every fifo_allocations column except id and created_at.
ALLOCATION_COLUMNS: tuple[str, ...] = (
    "portfolio_id", "symbol", "sell_order_id", "buy_order_id", "sell_trade_id", "buy_trade_id", "slice_index",
    "allocated_size", "buy_price", "sell_price", "buy_fees_per_unit", "sell_fees_per_unit", "cost_basis_usd",
    "proceeds_usd", "net_proceeds_usd", "pnl_usd", "buy_time", "sell_time", "holding_term", "missing_basis",
)


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """Open FIFO position of one (portfolio, symbol) queue.

    `cost_basis_usd` is the unallocated basis of the open lots (buy fees included); `avg_entry_price`
    is the size-weighted buy price of the open lots without fees (None when flat); `cost_per_unit`
    is the fee-inclusive break-even price (None when flat)."""

    symbol: str
    portfolio_id: str
    size: Decimal
    cost_basis_usd: Decimal
    avg_entry_price: Decimal | None
    realized_pnl_usd: Decimal
    opened_at: datetime | None
    open_lots: int = 0

    @property
    def cost_per_unit(self) -> Decimal | None:
        return _DIVISION.divide(self.cost_basis_usd, self.size) if self.size else None

    @property
    def is_open(self) -> bool:
        return self.size > 0


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """The tax choices the engine needs (from TaxSettings)."""

    tax_timezone: str = "America/New_York"
    month_end_convention: bool = True
    missing_basis_term: HoldingTerm = HoldingTerm.SHORT

    @classmethod
    def from_settings(cls, settings: Any) -> EngineConfig:
        return cls(
            tax_timezone=settings.tax_timezone,
            month_end_convention=settings.tax_month_end_convention,
            missing_basis_term=HoldingTerm(settings.missing_basis_term),
        )
