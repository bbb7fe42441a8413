"""Time priority at a price level: a resting order that joins a level waits behind what is there.

Pure. A resting limit fills at its own price only after trades printed at that price have consumed
the size that was ahead of it when it joined (a trade *through* the price fills it regardless).
"""

from __future__ import annotations

from decimal import Decimal

from core.money import quantize_down
from simulator.engine.book import Book
from simulator.engine.orders import SimOrder

ZERO = Decimal(0)


def resting_ahead(book: Book, buying: bool, price: Decimal) -> Decimal:
    """Size resting at `price` on the order's own side of the book (joining the best bid: all of it)."""
    levels = book.bids if buying else book.asks
    return next((lv.size for lv in levels if lv.price == price and lv.size > 0), ZERO)


def queue_fill(order: SimOrder, volume: Decimal, increment: Decimal) -> tuple[Decimal, Decimal]:
    """Apply `volume` traded at the order's price: first to the queue ahead, then to the order.

    Returns (size this order fills, volume left for orders behind it); updates `order.queue_ahead`.
    """
    ahead = order.queue_ahead or ZERO
    consumed = min(ahead, volume)
    order.queue_ahead = ahead - consumed
    left = volume - consumed
    size = min(order.leaves, quantize_down(left, increment))
    return size, left - size
