"""Pure handling of user-channel order updates: which ones are news worth fetching fills for."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.enums import TERMINAL_STATUSES, OrderStatus


@dataclass(frozen=True, slots=True)
class OrderPrompt:
    """The fields of a user-channel update that matter here."""

    order_id: str
    status: str
    cumulative_quantity: Decimal


class UpdateDeduper:
    """Pure: decides whether an update is news. Replays and shrinking quantities are not."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._seen: dict[str, tuple[Decimal, str]] = {}
        self._capacity = capacity

    def is_news(self, prompt: OrderPrompt) -> bool:
        prev = self._seen.get(prompt.order_id)
        terminal = _is_terminal(prompt.status)
        if prev is not None:
            prev_qty, prev_status = prev
            if prompt.cumulative_quantity < prev_qty:
                return False
            if prompt.cumulative_quantity == prev_qty and (prompt.status == prev_status or not terminal):
                return False
        self._seen[prompt.order_id] = (prompt.cumulative_quantity, prompt.status)
        if len(self._seen) > self._capacity:
            self._seen.pop(next(iter(self._seen)))
        return prompt.cumulative_quantity > 0 or terminal


def _is_terminal(status: str) -> bool:
    try:
        return OrderStatus(status) in TERMINAL_STATUSES
    except ValueError:
        return False
