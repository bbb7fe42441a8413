"""Order intents and deterministic client order ids; the update deduper."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.enums import OrderSource, Side
from webhook.order_intent import IntentKind, OrderIntent, client_order_id
from webhook.order_updates import OrderPrompt, UpdateDeduper


def test_client_order_id_is_deterministic_and_attempt_specific() -> None:
    assert client_order_id("alert:abc") == client_order_id("alert:abc")
    assert client_order_id("alert:abc") != client_order_id("alert:abd")
    assert client_order_id("alert:abc", 1) != client_order_id("alert:abc", 0)
    assert len(client_order_id("x" * 500)) <= 64


def test_intent_needs_exactly_one_size() -> None:
    with pytest.raises(ValueError):
        OrderIntent("BTC-USD", Side.BUY, IntentKind.MARKET, OrderSource.TRADINGVIEW, "k")
    with pytest.raises(ValueError):
        OrderIntent("BTC-USD", Side.BUY, IntentKind.MARKET, OrderSource.TRADINGVIEW, "k", base_size=D(1),
                    quote_size=D(10))
    with pytest.raises(ValueError):
        OrderIntent("BTC-USD", Side.SELL, IntentKind.MARKET, OrderSource.TRADINGVIEW, "k", quote_size=D(10))
    with pytest.raises(ValueError):
        OrderIntent("BTC-USD", Side.BUY, IntentKind.MARKET, OrderSource.TRADINGVIEW, "k", base_size=D(-1))


def test_deduper_ignores_replays_and_shrinking_quantities() -> None:
    d = UpdateDeduper()
    assert not d.is_news(OrderPrompt("o1", "OPEN", D(0)))  # nothing filled yet
    assert d.is_news(OrderPrompt("o1", "OPEN", D("0.5")))
    assert not d.is_news(OrderPrompt("o1", "OPEN", D("0.5")))  # replay
    assert not d.is_news(OrderPrompt("o1", "OPEN", D("0.2")))  # stale, out of order
    assert d.is_news(OrderPrompt("o1", "FILLED", D("0.5")))  # terminal status is news
    assert not d.is_news(OrderPrompt("o1", "FILLED", D("0.5")))
    assert d.is_news(OrderPrompt("o2", "CANCELLED", D(0)))  # a terminal order with no fill still settles
