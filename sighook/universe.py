"""Which products sighook analyses: a pure filter over the exchange's product list and settings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from exchange.models import Product

QUOTE_CURRENCY = "USD"


@dataclass(frozen=True, slots=True)
class UniverseEntry:
    product: Product
    hodl: bool  # analysed like any other product, flagged so the sentinel/entries can tell

    @property
    def product_id(self) -> str:
        return self.product.product_id


@dataclass(frozen=True, slots=True)
class UniverseResult:
    entries: list[UniverseEntry]
    excluded: dict[str, str]  # product_id → why (quote, not_tradable, volume, deny_list, not_allowed)


def select_universe(products: Iterable[Product], *, min_volume_24h_usd: Decimal,
                    allow_list: Sequence[str] = (), deny_list: Sequence[str] = (),
                    hodl_assets: Sequence[str] = ()) -> UniverseResult:
    """USD-quoted, online, tradable products with enough 24h USD volume, after allow/deny lists.

    The allow list narrows (empty = all); the deny list always wins. 24h USD volume is base volume ×
    last price (Coinbase reports `volume_24h` in base units). Sorted by product id.
    """
    allow = {p.strip().upper() for p in allow_list if p.strip()}
    deny = {p.strip().upper() for p in deny_list if p.strip()}
    hodl = {a.strip().upper() for a in hodl_assets if a.strip()}
    entries: list[UniverseEntry] = []
    excluded: dict[str, str] = {}
    for product in sorted(products, key=lambda p: p.product_id):
        pid = product.product_id.upper()
        reason = _exclusion(product, pid, min_volume_24h_usd, allow, deny)
        if reason is not None:
            excluded[product.product_id] = reason
            continue
        entries.append(UniverseEntry(product, product.base_currency.upper() in hodl))
    return UniverseResult(entries, excluded)


def _exclusion(product: Product, pid: str, min_volume: Decimal, allow: set[str], deny: set[str]) -> str | None:
    if product.quote_currency.upper() != QUOTE_CURRENCY:
        return "quote"
    if pid in deny:
        return "deny_list"
    if allow and pid not in allow:
        return "not_allowed"
    if not product.tradable:
        return "not_tradable"
    if product.quote_volume_24h < min_volume:
        return "volume"
    return None
