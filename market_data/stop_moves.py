"""How protective stops were moved, and how long each move left the position unprotected.

Every move is one `MoveRecord`: by in-place edit (the order never leaves the book, unprotected
window exactly 0) or by cancel-and-replace (window = cancel acknowledged → replacement accepted),
with the edit refusal that forced the fallback. Recorded into Prometheus and kept (bounded) for
GET /health/trailing_stop. Pure apart from the metric calls.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from core.metrics import (
    PROTECTIVE_EDIT_REFUSALS,
    PROTECTIVE_MOVE_LATENCY_SECONDS,
    PROTECTIVE_MOVE_UNPROTECTED_SECONDS,
    PROTECTIVE_MOVES,
    PROTECTIVE_UNPROTECTED_SECONDS,
)
from core.money import fmt

MoveMethod = Literal["edit", "cancel_replace"]
KEEP_RECORDS = 50


@dataclass(frozen=True, slots=True)
class MoveRecord:
    symbol: str
    method: MoveMethod
    order_id: str
    stop_price: Decimal
    unprotected_s: float  # 0.0 for edits: the order never left the book
    latency_s: float  # decision → exchange acknowledged the (last) call
    at: datetime
    refusal: str | None = None  # the edit refusal reason that forced cancel-and-replace

    def to_json(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "method": self.method, "order_id": self.order_id,
                "stop_price": fmt(self.stop_price), "unprotected_s": round(self.unprotected_s, 6),
                "latency_s": round(self.latency_s, 6), "at": self.at.isoformat(), "refusal": self.refusal}


class MoveLog:
    def __init__(self) -> None:
        self.records: deque[MoveRecord] = deque(maxlen=KEEP_RECORDS)
        self.counts: dict[str, int] = {"edit": 0, "cancel_replace": 0}
        self.unprotected_total_s: dict[str, float] = {"edit": 0.0, "cancel_replace": 0.0}
        self.max_unprotected_s: dict[str, float] = {"edit": 0.0, "cancel_replace": 0.0}
        self.refusals: dict[str, int] = {}

    def add(self, record: MoveRecord) -> None:
        self.records.append(record)
        m = record.method
        self.counts[m] += 1
        self.unprotected_total_s[m] += record.unprotected_s
        self.max_unprotected_s[m] = max(self.max_unprotected_s[m], record.unprotected_s)
        if record.refusal:
            self.refusals[record.refusal] = self.refusals.get(record.refusal, 0) + 1
            PROTECTIVE_EDIT_REFUSALS.labels(reason=record.refusal).inc()
        PROTECTIVE_MOVES.labels(method=m).inc()
        PROTECTIVE_MOVE_UNPROTECTED_SECONDS.labels(method=m).observe(record.unprotected_s)
        PROTECTIVE_MOVE_LATENCY_SECONDS.labels(method=m).observe(record.latency_s)
        if m == "cancel_replace":
            PROTECTIVE_UNPROTECTED_SECONDS.observe(record.unprotected_s)  # the pre-#21 series, kept for dashboards

    def summary(self) -> dict[str, Any]:
        return {
            "moves": dict(self.counts),
            "unprotected_total_s": {k: round(v, 6) for k, v in self.unprotected_total_s.items()},
            "unprotected_max_s": {k: round(v, 6) for k, v in self.max_unprotected_s.items()},
            "edit_refusals": dict(self.refusals),
            "recent": [r.to_json() for r in list(self.records)[-10:]],
        }
