"""Fill builders shared by the FIFO tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.enums import Side
from fifo_engine.model import FillFact

T0 = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)


def fill(trade_id: str, side: Side | str, size: str, price: str, fee: str, at: datetime | float = 0, *,
         symbol: str = "XYZ-USD", order_id: str | None = None, portfolio_id: str = "default",
         seq: datetime | None = None) -> FillFact:
    """A fill; `at` is a datetime or hours after T0. Order id defaults to `o-<trade_id>`."""
    when = at if isinstance(at, datetime) else T0 + timedelta(hours=at)
    return FillFact(
        trade_id=trade_id, order_id=order_id or f"o-{trade_id}", symbol=symbol, side=Side(side),
        price=Decimal(price), size=Decimal(size), commission=Decimal(fee), trade_time=when,
        portfolio_id=portfolio_id, sequence_timestamp=seq,
    )


def tv2_fills() -> list[FillFact]:
    """Tax reference TV-2: B1, S1, B2, S2 in this time order."""
    return [
        fill("B1", "BUY", "100", "50", "10", 0),
        fill("S1", "SELL", "50", "120", "10", 1),
        fill("B2", "BUY", "50", "130", "10", 2),
        fill("S2", "SELL", "40", "90", "10", 3),
    ]
