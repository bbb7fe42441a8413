"""The entry check while degraded: no new entries, whatever the risk manager says. Exits never come here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from risk.degraded.mode import DegradedMode


class EntryCheck(Protocol):
    async def check_entry(self, symbol: str, notional: Decimal, account_value: Decimal,
                          quote_age_s: float | None, *, state_rows: Sequence[Sequence[Any]] | None = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class DegradedRefusal:
    reasons: tuple[str, ...]
    allowed: bool = False
    reason_code: str = "degraded_mode"  # webhook/alerts/reasons.py


class DegradedEntryGate:
    def __init__(self, inner: EntryCheck, degraded: DegradedMode) -> None:
        self._inner = inner
        self._degraded = degraded

    async def check_entry(self, symbol: str, notional: Decimal, account_value: Decimal,
                          quote_age_s: float | None, *, state_rows: Sequence[Sequence[Any]] | None = None) -> Any:
        if not self._degraded.entries_allowed():
            cause = self._degraded.status().get("cause") or "exchange failing"
            return DegradedRefusal((f"degraded mode: {cause}",))
        return await self._inner.check_entry(symbol, notional, account_value, quote_age_s, state_rows=state_rows)
