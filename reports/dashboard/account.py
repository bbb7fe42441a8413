"""The account panel and the product increments the page rounds its numbers to.

`AccountSource` is optional beside `DashboardData`: the daemon provides it (exchange balances and
its product catalog); a DashboardData without it simply shows no account panel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from core.money import ZERO
from reports.dashboard.data import PositionSnapshot

QUOTE_CURRENCIES = ("USD", "USDC")


@dataclass(frozen=True)
class CashBalance:
    currency: str
    available: Decimal
    hold: Decimal


@dataclass(frozen=True)
class Increments:
    base_increment: Decimal
    quote_increment: Decimal


@runtime_checkable
class AccountSource(Protocol):
    async def cash(self) -> Sequence[CashBalance]: ...

    def increments(self) -> Mapping[str, Increments]: ...


def account_summary(cash: Sequence[CashBalance], positions: Sequence[PositionSnapshot]) -> dict[str, object]:
    """Equity = cash in quote currencies (available + on hold) + open positions at the last price
    (entry price while no quote has arrived). Exact values; the page rounds to cents."""
    quote_cash = [c for c in cash if c.currency in QUOTE_CURRENCIES]
    cash_total = sum((c.available + c.hold for c in quote_cash), ZERO)
    held = ZERO
    unpriced = []
    for p in positions:
        price = p.last_price if p.last_price is not None else p.entry_price
        if p.last_price is None:
            unpriced.append(p.symbol)
        held += p.size * price
    return {
        "equity_usd": cash_total + held,
        "cash_usd": cash_total,
        "cash_available_usd": sum((c.available for c in quote_cash), ZERO),
        "cash_on_hold_usd": sum((c.hold for c in quote_cash), ZERO),
        "positions_value_usd": held,
        "positions_at_entry_price": unpriced,
        "balances": [{"currency": c.currency, "available": c.available, "hold": c.hold} for c in quote_cash],
    }
