"""One P&L basis for every exit threshold (EXIT_PNL_BASIS): `net` of round-trip fees, or `price`.

Under `net` a position's thresholds are measured from its break-even price

    B = cost per unit (buy price + buy fee per unit) / (1 − exit fee rate)

because the net P&L of selling at q is q·(1 − f)/cost − 1 = q/B − 1: percent moves from B *are* net
P&L, so the stop-loss, take-profit, the signal's "P&L ≥ 0" and the trailing stop's breakeven floor
all become net of fees with no other change. The exit fee rate is the taker rate (an exit may
escalate to market), so a breakeven exit is never a loss after fees; a resting exit that fills as
maker does better by the difference. Under `price` B is the average entry price (fees ignored).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol


class PnlBasis(StrEnum):
    NET = "net"
    PRICE = "price"


def basis_price(avg_entry_price: Decimal, cost_per_unit: Decimal | None, basis: PnlBasis,
                exit_fee_rate: Decimal) -> Decimal:
    if basis is PnlBasis.PRICE or cost_per_unit is None or cost_per_unit <= 0:
        return avg_entry_price
    if not Decimal(0) <= exit_fee_rate < 1:
        raise ValueError(f"exit fee rate must be in [0, 1), got {exit_fee_rate}")
    return cost_per_unit / (1 - exit_fee_rate)


class HeldPositionLike(Protocol):
    @property
    def symbol(self) -> str: ...
    @property
    def size(self) -> Decimal: ...
    @property
    def avg_entry_price(self) -> Decimal: ...
    @property
    def opened_at(self) -> datetime | None: ...
    @property
    def cost_basis_usd(self) -> Decimal: ...


class HeldPositions(Protocol):
    def open_positions(self) -> Sequence[HeldPositionLike]: ...


@dataclass(frozen=True, slots=True)
class BasisPosition:
    """A position as the sentinel measures it: `avg_entry_price` is the basis price B."""

    symbol: str
    size: Decimal
    avg_entry_price: Decimal
    opened_at: datetime | None
    entry_price: Decimal  # the real average buy price
    cost_basis_usd: Decimal


def on_basis(p: HeldPositionLike, basis: PnlBasis, exit_fee_rate: Decimal) -> BasisPosition:
    cost = p.cost_basis_usd / p.size if p.size > 0 else None
    return BasisPosition(p.symbol, p.size, basis_price(p.avg_entry_price, cost, basis, exit_fee_rate), p.opened_at,
                         p.avg_entry_price, p.cost_basis_usd)


class BasisPositions:
    """The sentinel's PositionSource: the position book seen on the configured basis."""

    def __init__(self, positions: HeldPositions, basis: PnlBasis, exit_fee_rate: Decimal) -> None:
        self._positions = positions
        self.basis = basis
        self.exit_fee_rate = exit_fee_rate
        self._source: Sequence[HeldPositionLike] | None = None
        self._cached: list[BasisPosition] = []

    def open_positions(self) -> list[BasisPosition]:
        source = self._positions.open_positions()
        if source is not self._source:  # the book caches its list until fills change it
            self._source = source
            self._cached = [on_basis(p, self.basis, self.exit_fee_rate) for p in source]
        return self._cached
