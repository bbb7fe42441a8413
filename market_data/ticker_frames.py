"""Parse Coinbase Advanced Trade `ticker` / `ticker_batch` frames into TickerUpdate values.

Frame shape (reference §4.4): {"channel": "ticker", "timestamp": …, "sequence_num": n,
"events": [{"type": "snapshot"|"update", "tickers": [{"product_id", "price", "best_bid", …}]}]}.
Other channels give no tickers; malformed tickers are skipped with a reason, never raised, so one
bad message cannot stop a feed loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.clock import parse_rfc3339
from core.money import opt_decimal, to_decimal

TICKER_CHANNELS = frozenset({"ticker", "ticker_batch"})


@dataclass(frozen=True, slots=True)
class TickerUpdate:
    symbol: str
    price: Decimal
    best_bid: Decimal | None
    best_ask: Decimal | None
    time: datetime | None  # the frame's timestamp (exchange clock)
    sequence_num: int | None


@dataclass(frozen=True, slots=True)
class ParsedFrame:
    tickers: list[TickerUpdate]
    errors: list[str]


def parse_ticker_frame(raw: str | bytes | dict[str, Any]) -> ParsedFrame:
    """Tickers of one frame; non-ticker frames give an empty result."""
    try:
        frame = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except (ValueError, UnicodeDecodeError) as exc:
        return ParsedFrame([], [f"not JSON: {exc}"])
    if not isinstance(frame, dict) or frame.get("channel") not in TICKER_CHANNELS:
        return ParsedFrame([], [])
    errors: list[str] = []
    stamp = _timestamp(frame.get("timestamp"), errors)
    seq = frame.get("sequence_num")
    seq_num = seq if isinstance(seq, int) else None
    tickers: list[TickerUpdate] = []
    events = frame.get("events")
    for event in events if isinstance(events, list) else []:
        items = event.get("tickers") if isinstance(event, dict) else None
        for item in items if isinstance(items, list) else []:
            parsed = _ticker(item, stamp, seq_num, errors)
            if parsed is not None:
                tickers.append(parsed)
    return ParsedFrame(tickers, errors)


def _ticker(item: Any, stamp: datetime | None, seq: int | None, errors: list[str]) -> TickerUpdate | None:
    if not isinstance(item, dict) or not isinstance(item.get("product_id"), str):
        errors.append("ticker without product_id")
        return None
    try:
        price = to_decimal(item.get("price"))
        bid = opt_decimal(item.get("best_bid"))
        ask = opt_decimal(item.get("best_ask"))
    except (TypeError, InvalidOperation) as exc:
        errors.append(f"{item['product_id']}: bad number ({exc.__class__.__name__})")
        return None
    if not price.is_finite() or price <= 0:
        errors.append(f"{item['product_id']}: non-positive price {item.get('price')!r}")
        return None
    return TickerUpdate(symbol=item["product_id"], price=price, best_bid=_positive(bid), best_ask=_positive(ask),
                        time=stamp, sequence_num=seq)


def _positive(value: Decimal | None) -> Decimal | None:
    # An empty book side arrives as "" or "0"; NaN must never reach a comparison.
    return value if value is not None and value.is_finite() and value > 0 else None


def _timestamp(value: Any, errors: list[str]) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        errors.append(f"bad timestamp {value!r}")
        return None
