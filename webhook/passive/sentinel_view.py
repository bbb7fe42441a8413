"""The sentinel's view of positions while passive brackets protect some of them.

A position under a live (or being re-armed) bracket is the exchange's to exit: the sentinel must not
sell it too (its sell would fight the bracket's hold). Once the manager hands a position over after
MAX_REARM_ATTEMPTS failures, `owned` turns false and the sentinel sees it again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from market_data.ports import OpenPosition, PositionSource


class SentinelPositions:
    def __init__(self, inner: PositionSource, owned: Callable[[str], bool],
                 any_owned: Callable[[], bool] | None = None) -> None:
        """`any_owned`: False only when `owned` is False for every symbol (no passive product at all):
        the sentinel, which asks on every tick, then gets the inner list as it is."""
        self._inner = inner
        self._owned = owned
        self._any_owned = any_owned

    def open_positions(self) -> Sequence[OpenPosition]:
        if self._any_owned is not None and not self._any_owned():
            return self._inner.open_positions()
        return [p for p in self._inner.open_positions() if not self._owned(p.symbol)]
