"""Per-symbol activity in the watched window, from the history tables: activations, stop moves
decided vs acknowledged by the exchange, exits and their latency (decided → filled)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from market_data.stop_events import ACKNOWLEDGED_KINDS, ExitEventKind, TrailingEventKind
from shared_data.event_models import ExitEventRow, TrailingStopEventRow


@dataclass
class SymbolActivity:
    activations: int = 0
    stop_moves_decided: int = 0  # activation (first stop) and every higher stop the sentinel decided
    stop_moves_acknowledged: int = 0  # exchange stop placed / edited / replaced
    exchange_failures: list[str] = field(default_factory=list)  # "<time> <detail>" of each failure
    exits_filled: int = 0
    exits_failed: int = 0
    exit_latencies_s: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def summarize(trailing: Iterable[tuple[str, str, datetime, str | None]],
              exits: Iterable[tuple[str, str, datetime]]) -> dict[str, SymbolActivity]:
    """Pure: (symbol, kind, at, detail) trailing events and (symbol, kind, at) exit events, in id order."""
    out: dict[str, SymbolActivity] = {}
    for symbol, kind, at_, detail in trailing:
        a = out.setdefault(symbol, SymbolActivity())
        if kind == TrailingEventKind.ACTIVATED:
            a.activations += 1
            a.stop_moves_decided += 1
        elif kind == TrailingEventKind.STOP_MOVED:
            a.stop_moves_decided += 1
        elif kind in ACKNOWLEDGED_KINDS:
            a.stop_moves_acknowledged += 1
        elif kind == TrailingEventKind.EXCHANGE_STOP_FAILED:
            a.exchange_failures.append(f"{at_.isoformat(timespec='seconds')} {detail or 'failed'}")
        elif kind == TrailingEventKind.WARNING and detail:
            a.warnings.append(detail)
    decided: dict[str, datetime] = {}
    for symbol, kind, at in exits:
        a = out.setdefault(symbol, SymbolActivity())
        if kind == ExitEventKind.DECIDED:
            decided.setdefault(symbol, at)
        elif kind == ExitEventKind.FILLED:
            a.exits_filled += 1
            started = decided.pop(symbol, None)
            if started is not None:
                a.exit_latencies_s.append((at - started).total_seconds())
        elif kind == ExitEventKind.FAILED:
            a.exits_failed += 1
    return out


async def load_activity(session: AsyncSession, since: datetime) -> dict[str, SymbolActivity]:
    t, e = TrailingStopEventRow, ExitEventRow
    trailing = (await session.execute(select(t.symbol, t.kind, t.at, t.detail).where(t.at >= since).order_by(t.id)))
    exits = (await session.execute(select(e.symbol, e.kind, e.at).where(e.at >= since).order_by(e.id)))
    return summarize([tuple(r) for r in trailing.all()], [tuple(r) for r in exits.all()])  # type: ignore[misc]
