"""What the engine reports after each call; the WebSocket layer turns these into channel messages."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.engine.orders import MarketTrade, SimFill, SimOrder


@dataclass(frozen=True, slots=True)
class OrderEvent:
    order: SimOrder  # a snapshot: the full cumulative state at the time of the change


@dataclass(frozen=True, slots=True)
class FillEvent:
    fill: SimFill


@dataclass(frozen=True, slots=True)
class TickerEvent:
    product_id: str


@dataclass(frozen=True, slots=True)
class BookEvent:
    product_id: str


@dataclass(frozen=True, slots=True)
class TradeEvent:
    trade: MarketTrade


EngineEvent = OrderEvent | FillEvent | TickerEvent | BookEvent | TradeEvent
