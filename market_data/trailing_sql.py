"""The trailing writer's batch as ONE hand-written statement (sent through `shared_data.direct`).

A batch used to be a transaction of up to five ORM statements (events, exit events, state upsert,
delete, plus BEGIN/COMMIT). One statement made of data-modifying CTEs is atomic by itself, so the
history-and-state-together guarantee is unchanged: the batch commits entirely or not at all.
Rows keep their order within each table (VALUES order = id order).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from market_data.stop_events import ExitEvent, TrailingEvent
from market_data.trailing_stop import TrailingStop

_TRAILING_COLS = tuple(f.name for f in fields(TrailingEvent))
_EXIT_COLS = tuple(f.name for f in fields(ExitEvent))
_STATE_COLS = (
    "symbol", "state", "entry_price", "highest_price", "lowest_price", "current_stop", "atr", "stop_order_id",
    "stop_order_price", "stop_order_moved_at", "activated_at", "opened_at", "last_update_time", "update_count",
)


class _Params:
    def __init__(self) -> None:
        self.args: list[Any] = []

    def values(self, rows: Sequence[Sequence[Any]], casts: dict[int, str] | None = None) -> str:
        casts = casts or {}
        out = []
        for row in rows:
            slots = []
            for i, value in enumerate(row):
                self.args.append(value)
                slots.append(f"${len(self.args)}{casts.get(i, '')}")
            out.append(f"({', '.join(slots)})")
        return ", ".join(out)


def _trailing_values(event: TrailingEvent) -> tuple[Any, ...]:
    values = [getattr(event, name) for name in _TRAILING_COLS]
    values[_TRAILING_COLS.index("kind")] = event.kind.value
    final = event.final_state
    values[_TRAILING_COLS.index("final_state")] = None if final is None else json.dumps(final)
    return tuple(values)


def _exit_values(event: ExitEvent) -> tuple[Any, ...]:
    values = [getattr(event, name) for name in _EXIT_COLS]
    values[_EXIT_COLS.index("kind")] = event.kind.value
    return tuple(values)


def _state_values(stop: TrailingStop) -> tuple[Any, ...]:
    values = [getattr(stop, name) for name in _STATE_COLS]
    values[1] = stop.state.value
    return tuple(values)


def batch_statement(saves: Sequence[TrailingStop], deletes: Sequence[str], trailing: Sequence[TrailingEvent],
                    exits: Sequence[ExitEvent]) -> tuple[str, list[Any]] | None:
    """SQL and arguments writing the whole batch, or None when there is nothing to write."""
    params = _Params()
    parts: list[str] = []
    if trailing:
        casts = {_TRAILING_COLS.index("final_state"): "::jsonb"}
        parts.append(f"INSERT INTO trailing_stop_events ({', '.join(_TRAILING_COLS)}) VALUES "
                     + params.values([_trailing_values(e) for e in trailing], casts))
    if exits:
        parts.append(f"INSERT INTO exit_events ({', '.join(_EXIT_COLS)}) VALUES "
                     + params.values([_exit_values(e) for e in exits]))
    # The old transaction upserted then deleted, so a symbol in both ends deleted; in one statement
    # a row may be touched once, so such a save is simply dropped. A symbol saved twice keeps its
    # last state (ON CONFLICT may also touch a row only once per statement).
    gone = set(deletes)
    latest = {stop.symbol: stop for stop in saves if stop.symbol not in gone}
    if latest:
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _STATE_COLS if c != "symbol")
        parts.append(f"INSERT INTO trailing_stop_state ({', '.join(_STATE_COLS)}) VALUES "
                     + params.values([_state_values(s) for s in latest.values()])
                     + f" ON CONFLICT (symbol) DO UPDATE SET {updates}")
    if gone:
        params.args.append(sorted(gone))
        parts.append(f"DELETE FROM trailing_stop_state WHERE symbol = ANY(${len(params.args)}::varchar[])")
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0], params.args
    ctes = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(parts[:-1]))
    return f"WITH {ctes} {parts[-1]}", params.args
