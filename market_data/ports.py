"""What the exit sentinel needs from the rest of the daemon, as small Protocols and values.

The execution core (webhook/) implements these; the sentinel never imports it. Everything here is
in-memory on the sentinel's side: `open_positions()` and `signal()` must not do I/O, because they
are called on every ticker update and inside every sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from market_data.exit_policy import ExitDecision


class OpenPosition(Protocol):
    """A long spot position the sentinel guards (one per symbol)."""

    @property
    def symbol(self) -> str: ...

    @property
    def size(self) -> Decimal: ...

    @property
    def avg_entry_price(self) -> Decimal: ...

    @property
    def opened_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class SignalView:
    """The part of a buy_sell_matrix row the sentinel uses.

    `sell`: the matrix says sell. `atr`: the symbol's ATR in quote currency (None when unknown).
    `as_of`: when the matrix row was computed (the sentinel ignores the sell flag once it is older
    than `matrix_max_age_s`).
    """

    sell: bool
    atr: Decimal | None
    as_of: datetime


@dataclass(frozen=True, slots=True)
class ExitSubmission:
    """What the executor did with an exit decision."""

    ok: bool
    order_id: str | None = None
    error: str | None = None


class PositionSource(Protocol):
    def open_positions(self) -> Sequence[OpenPosition]:
        """The current open positions, from memory (no I/O)."""
        ...


class SignalSource(Protocol):
    def signal(self, symbol: str) -> SignalView | None:
        """The latest matrix view of `symbol`, or None when absent or stale (no I/O)."""
        ...


class ExitExecutor(Protocol):
    async def submit_exit(self, position: OpenPosition, decision: ExitDecision) -> ExitSubmission:
        """Size from available-to-trade balance, cancel conflicting open sells, place the order and
        record exit_reason + target price + quote seen on trade_records. Never raises for business
        failures: returns ExitSubmission(ok=False, error=…)."""
        ...


class Notifier(Protocol):
    async def notify(self, topic: str, message: str) -> object:
        """Tell the user (apprise etc.). Must not raise; must have its own timeout."""
        ...


def base_asset(symbol: str) -> str:
    """`BTC-USD` → `BTC`."""
    return symbol.split("-", 1)[0].upper()
