"""The daemon's pure parts: cycle scheduling, and which exchange it builds."""

from __future__ import annotations

import pytest

from core.settings import load_settings
from exchange.coinbase.clients import CoinbaseRestAdapter
from sighook.daemon import build_exchange, next_cycle_delay


def test_cycles_start_just_after_each_interval_boundary() -> None:
    minute = 1_800_000_000.0  # a whole minute in epoch seconds
    assert next_cycle_delay(minute + 1.0, 60, offset_s=3) == pytest.approx(2.0)
    assert next_cycle_delay(minute + 3.0, 60, offset_s=3) == 0.0
    assert next_cycle_delay(minute + 3.5, 60, offset_s=3) == pytest.approx(59.5)
    assert next_cycle_delay(minute + 59.0, 60, offset_s=3) == pytest.approx(4.0)


def test_offset_larger_than_the_interval_wraps() -> None:
    assert next_cycle_delay(100.0, 2.0, offset_s=3.0) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        next_cycle_delay(100.0, 0.0)


def test_without_an_injected_exchange_the_coinbase_adapter_is_built_from_settings() -> None:
    exchange = build_exchange(load_settings(rest_base_url="127.0.0.1:1", ws_market_url="ws://127.0.0.1:2",
                                            ws_user_url="ws://127.0.0.1:3"))
    assert isinstance(exchange, CoinbaseRestAdapter)
    assert exchange.config.rest_host == "127.0.0.1:1"
