"""State the passive manager keeps per product (in memory; every order is also a trade_records row)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from webhook.passive.bracket import BracketPrices
from webhook.passive.quoting import LiveQuote


@dataclass(slots=True)
class ArmedBracket:
    """A filled passive buy's protection: the bracket order live now (or to be re-armed)."""

    symbol: str
    buy_order_id: str
    size: Decimal
    entry_price: Decimal
    prices: BracketPrices
    order_id: str | None = None
    client_order_id: str | None = None
    failures: int = 0
    arms: int = 0  # bracket orders sent (the next one's client_order_id attempt number)
    filled_before: Decimal = Decimal(0)  # sold by earlier (cancelled) brackets of this buy


@dataclass(slots=True)
class ProductState:
    symbol: str
    bid: LiveQuote | None = None
    bid_seq: int = 0
    brackets: list[ArmedBracket] = field(default_factory=list)
    last_fill_mono: float | None = None
    handed_over: bool = False  # a bracket failed MAX_REARM_ATTEMPTS times: the sentinel owns the position
    withheld: str | None = None  # why the bid is not quoted now (logged when it changes)
    replaced: int = 0  # quote replacements (refresh cost)
    placed: int = 0  # quote orders sent
    rate_limited: int = 0  # replacements/placements the rate guard held back

    @property
    def protected(self) -> bool:
        return any(b.order_id is not None for b in self.brackets)
