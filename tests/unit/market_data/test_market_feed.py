"""Ticker frame parsing and the market cache (receive-time stamping, ordering, listeners)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from market_data.market_cache import CachedQuote, MarketCache
from market_data.ticker_frames import parse_ticker_frame

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def frame(*tickers: dict[str, str], channel: str = "ticker", ts: str = "2026-03-02T12:00:00.123456789Z") -> str:
    return json.dumps({"channel": channel, "client_id": "", "timestamp": ts, "sequence_num": 7,
                       "events": [{"type": "update", "tickers": list(tickers)}]})


def ticker(symbol: str = "BTC-USD", price: str = "21932.98", bid: str = "21931.98", ask: str = "21933.98") -> dict:
    return {"type": "ticker", "product_id": symbol, "price": price, "best_bid": bid, "best_ask": ask,
            "volume_24_h": "16038.28770938", "best_bid_quantity": "8000.21", "best_ask_quantity": "8038.07"}


def test_parses_coinbase_ticker_frames() -> None:
    parsed = parse_ticker_frame(frame(ticker(), ticker("ETH-USD", "2000", "1999.5", "2000.5")))
    assert parsed.errors == []
    btc, eth = parsed.tickers
    assert (btc.symbol, btc.price, btc.best_bid, btc.best_ask) == ("BTC-USD", Decimal("21932.98"),
                                                                   Decimal("21931.98"), Decimal("21933.98"))
    assert btc.time == datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC) and btc.sequence_num == 7
    assert eth.symbol == "ETH-USD"


def test_other_channels_and_bad_input_are_skipped_not_raised() -> None:
    assert parse_ticker_frame(json.dumps({"channel": "heartbeats", "events": []})).tickers == []
    assert parse_ticker_frame('{"type":"error","message":"authentication failure"}').tickers == []
    assert parse_ticker_frame(b"\xff not json").errors
    bad = parse_ticker_frame(frame(ticker(price="abc"), ticker(price="0"), {"price": "1"}, ticker("OK-USD", "5")))
    assert [t.symbol for t in bad.tickers] == ["OK-USD"] and len(bad.errors) == 3


def test_empty_book_sides_become_none() -> None:
    [t] = parse_ticker_frame(frame(ticker(bid="", ask="0"))).tickers
    assert t.best_bid is None and t.best_ask is None


def test_cache_stamps_receive_time_and_tells_listeners() -> None:
    cache = MarketCache()
    heard: list[CachedQuote] = []
    cache.add_listener(heard.append)
    cache.add_listener(lambda q: 1 / 0)  # a broken listener is logged, the others still hear
    [t] = parse_ticker_frame(frame(ticker())).tickers
    quote = cache.on_ticker(t, received_mono=50.0, received_at=T0)
    assert quote is not None and heard == [quote] and cache.get("BTC-USD") == quote
    assert quote.sell_price == Decimal("21931.98")
    assert cache.age("BTC-USD", 62.5) == 12.5 and cache.age("ETH-USD", 62.5) is None


def test_cache_refuses_bad_prices_and_late_older_tickers() -> None:
    cache = MarketCache()
    assert cache.update("X-USD", Decimal("0"), received_mono=1.0, received_at=T0) is None
    newer = parse_ticker_frame(frame(ticker(price="10"), ts="2026-03-02T12:00:02Z")).tickers[0]
    older = parse_ticker_frame(frame(ticker(price="9"), ts="2026-03-02T12:00:01Z")).tickers[0]
    cache.on_ticker(newer, received_mono=1.0, received_at=T0)
    assert cache.on_ticker(older, received_mono=2.0, received_at=T0) is None
    quote = cache.get("BTC-USD")
    assert quote is not None and quote.price == Decimal("10")
