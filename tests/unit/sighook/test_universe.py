"""Product universe filter (pure)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from sighook.universe import select_universe
from tests.unit.sighook.memory_exchange import product


def test_usd_online_tradable_products_above_volume_after_lists() -> None:
    products = [
        product("BTC-USD", price="60000", volume_24h="100"),  # $6M
        product("ETH-USD", price="3000", volume_24h="1000"),  # $3M
        product("DOGE-USD", price="0.1", volume_24h="1000"),  # $100: below the volume floor
        product("ETH-BTC", price="0.05", volume_24h="1000"),  # not USD-quoted
        product("SOL-USDC", price="150", volume_24h="100000"),  # USDC is not USD
        product("OLD-USD", price="1", volume_24h="1e9", status="offline"),
        replace(product("HALT-USD", price="1", volume_24h="1e9"), trading_disabled=True),
        product("LTC-USD", price="80", volume_24h="100000"),
        product("XRP-USD", price="1", volume_24h="1e7"),
    ]
    result = select_universe(products, min_volume_24h_usd=Decimal("1000"), deny_list=["xrp-usd"],
                             hodl_assets=["btc"])
    assert [e.product_id for e in result.entries] == ["BTC-USD", "ETH-USD", "LTC-USD"]
    assert [e.hodl for e in result.entries] == [True, False, False]
    assert result.excluded == {
        "DOGE-USD": "volume", "ETH-BTC": "quote", "SOL-USDC": "quote", "OLD-USD": "not_tradable",
        "HALT-USD": "not_tradable", "XRP-USD": "deny_list",
    }


def test_allow_list_narrows_and_deny_list_wins() -> None:
    products = [product("BTC-USD"), product("ETH-USD"), product("SOL-USD")]
    result = select_universe(products, min_volume_24h_usd=Decimal(0), allow_list=["BTC-USD", "ETH-USD"],
                             deny_list=["ETH-USD"])
    assert [e.product_id for e in result.entries] == ["BTC-USD"]
    assert result.excluded == {"ETH-USD": "deny_list", "SOL-USD": "not_allowed"}


def test_product_without_price_has_no_volume() -> None:
    result = select_universe([replace(product("NEW-USD"), price=None)], min_volume_24h_usd=Decimal("1"))
    assert result.entries == [] and result.excluded == {"NEW-USD": "volume"}
