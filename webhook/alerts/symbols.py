"""Alert ticker → Coinbase product id, through an explicit table built from known products.

TradingView writes `BTCUSD` for Coinbase's `BTC-USD`. Splitting an unknown ticker is ambiguous
(`BTCUSDC`, multi-letter bases), so the table only holds tickers derived from real product ids:
each `BASE-QUOTE` with a USD/USDC quote maps from `BASEQUOTE` and from itself. Anything else is
unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

MAPPED_QUOTES = frozenset({"USD", "USDC"})


class SymbolMap:
    """Immutable lookup; build it with `SymbolMap.from_products(product_ids)`."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = MappingProxyType(dict(table))

    @classmethod
    def from_products(cls, product_ids: Iterable[str]) -> SymbolMap:
        # Compact forms cannot clash: each ends in its quote (…USD or …USDC) and product ids keep their dash.
        table: dict[str, str] = {}
        for raw in product_ids:
            product = raw.strip().upper()
            base, sep, quote = product.partition("-")
            if not sep or not base or not quote or "-" in quote:
                continue
            table[product] = product
            if quote in MAPPED_QUOTES:
                table[base + quote] = product
        return cls(table)

    def resolve(self, ticker: str) -> str | None:
        """The product id for a ticker (`BTCUSD`, `btc-usd`, `COINBASE:BTCUSD`), or None if unknown."""
        text = ticker.strip().upper()
        if ":" in text:
            # `{{exchange}}:{{ticker}}` written as one field; the exchange part is informational.
            text = text.split(":", 1)[1]
        return self._table.get(text)

    @property
    def products(self) -> frozenset[str]:
        return frozenset(self._table.values())

    def __len__(self) -> int:
        return len(self._table)
