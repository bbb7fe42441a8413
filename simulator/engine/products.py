"""Product specifications (increments, size limits) and their run-time trading flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

D = Decimal


@dataclass(frozen=True, slots=True)
class ProductSpec:
    product_id: str
    base_currency: str
    quote_currency: str
    initial_price: Decimal
    base_increment: Decimal
    quote_increment: Decimal
    price_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal
    quote_min_size: Decimal
    quote_max_size: Decimal
    base_name: str
    quote_name: str


@dataclass(slots=True)
class ProductFlags:
    """Switchable at run time (R16)."""

    status: str = "online"  # online / offline / delisted
    trading_disabled: bool = False
    cancel_only: bool = False
    limit_only: bool = False
    post_only: bool = False
    is_disabled: bool = False
    auction_mode: bool = False
    view_only: bool = False

    def update(self, **changes: object) -> None:
        for key, value in changes.items():
            if not hasattr(self, key):
                raise ValueError(f"unknown product flag {key!r}")
            expected = type(getattr(self, key))
            if not isinstance(value, expected):
                raise ValueError(f"product flag {key!r} must be {expected.__name__}")
            setattr(self, key, value)


# (price, base_increment, quote_increment, base_min, base_max, name) of well-known bases.
_KNOWN: dict[str, tuple[str, str, str, str, str, str]] = {
    "BTC": ("60000.00", "0.00000001", "0.01", "0.00000001", "3400", "Bitcoin"),
    "ETH": ("3000.00", "0.00000001", "0.01", "0.00000001", "42000", "Ethereum"),
    "SOL": ("150.00", "0.00000001", "0.01", "0.00000001", "100000", "Solana"),
    "DOGE": ("0.15000", "0.1", "0.00001", "0.1", "40000000", "Dogecoin"),
    "LTC": ("80.00", "0.00000001", "0.01", "0.00000001", "100000", "Litecoin"),
    "ADA": ("0.4500", "0.01", "0.0001", "0.01", "10000000", "Cardano"),
    "XRP": ("0.5000", "0.000001", "0.0001", "0.000001", "10000000", "XRP"),
    "AVAX": ("30.00", "0.00000001", "0.01", "0.00000001", "200000", "Avalanche"),
    "LINK": ("15.000", "0.01", "0.001", "0.01", "500000", "Chainlink"),
}
_QUOTE_NAMES = {"USD": "US Dollar", "USDC": "USDC", "EUR": "Euro", "USDT": "Tether", "BTC": "Bitcoin"}


def default_spec(product_id: str, initial_price: Decimal | None = None) -> ProductSpec:
    """A plausible spec for BASE-QUOTE; unknown bases get price 100 and 8-decimal sizes."""
    try:
        base, quote = product_id.split("-")
    except ValueError:
        raise ValueError(f"product id must look like BASE-QUOTE, got {product_id!r}") from None
    price, base_inc, quote_inc, base_min, base_max, name = _KNOWN.get(
        base, ("100.00", "0.00000001", "0.01", "0.00000001", "1000000", base)
    )
    return ProductSpec(
        product_id=product_id, base_currency=base, quote_currency=quote,
        initial_price=initial_price if initial_price is not None else D(price),
        base_increment=D(base_inc), quote_increment=D(quote_inc), price_increment=D(quote_inc),
        base_min_size=D(base_min), base_max_size=D(base_max), quote_min_size=D("1"),
        quote_max_size=D("25000000"), base_name=name, quote_name=_QUOTE_NAMES.get(quote, quote),
    )


@dataclass(slots=True)
class ProductState:
    spec: ProductSpec
    flags: ProductFlags = field(default_factory=ProductFlags)
