"""Balances per currency: available (spendable) and hold (reserved by open orders), exact Decimal."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


class LedgerError(Exception):
    """An operation would make a balance negative: a bug in the caller, never silently clamped."""


@dataclass(slots=True)
class Wallet:
    currency: str
    uuid: str
    available: Decimal = ZERO
    hold: Decimal = ZERO


class Ledger:
    def __init__(self) -> None:
        self.wallets: dict[str, Wallet] = {}

    def open(self, currency: str, uuid: str, amount: Decimal = ZERO) -> Wallet:
        wallet = self.wallets.get(currency)
        if wallet is None:
            wallet = self.wallets[currency] = Wallet(currency, uuid, amount)
        return wallet

    def wallet(self, currency: str) -> Wallet:
        try:
            return self.wallets[currency]
        except KeyError:
            raise LedgerError(f"no wallet for {currency}") from None

    def available(self, currency: str) -> Decimal:
        w = self.wallets.get(currency)
        return w.available if w else ZERO

    def place_hold(self, currency: str, amount: Decimal) -> None:
        w = self.wallet(currency)
        if amount < 0 or amount > w.available:
            raise LedgerError(f"cannot hold {amount} {currency}: available {w.available}")
        w.available -= amount
        w.hold += amount

    def release_hold(self, currency: str, amount: Decimal) -> None:
        w = self.wallet(currency)
        if amount < 0 or amount > w.hold:
            raise LedgerError(f"cannot release {amount} {currency}: hold {w.hold}")
        w.hold -= amount
        w.available += amount

    def spend_hold(self, currency: str, amount: Decimal) -> None:
        """Held funds leave the account (paid for a fill)."""
        w = self.wallet(currency)
        if amount < 0 or amount > w.hold:
            raise LedgerError(f"cannot spend {amount} {currency} from hold {w.hold}")
        w.hold -= amount

    def credit(self, currency: str, amount: Decimal) -> None:
        if amount < 0:
            raise LedgerError(f"negative credit {amount} {currency}")
        self.wallet(currency).available += amount

    def deposit(self, currency: str, amount: Decimal, uuid: str) -> None:
        """Admin/test top-up (creates the wallet when missing)."""
        self.open(currency, uuid)
        self.credit(currency, amount)

    def snapshot(self) -> dict[str, tuple[Decimal, Decimal]]:
        return {c: (w.available, w.hold) for c, w in self.wallets.items()}
