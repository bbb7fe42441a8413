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
PERSISTED_FIELDS = (
    "state", "entry_price", "highest_price", "lowest_price", "current_stop", "atr", "stop_order_id",
    "stop_order_price", "stop_order_moved_at", "activated_at", "opened_at", "last_update_time", "update_count",
)
_STATE_COLS = ("symbol", *PERSISTED_FIELDS)
# PostgreSQL takes at most 32,767 parameters per statement: a larger batch (a backlog after the database
# was away) is written as several statements in one transaction instead.
MAX_ARGS = 30_000


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
    values[_TRAILING_COLS.index("final_state")] = json.dumps(final)  # None → JSON null, as the ORM stored it
    return tuple(values)


def _exit_values(event: ExitEvent) -> tuple[Any, ...]:
    values = [getattr(event, name) for name in _EXIT_COLS]
    values[_EXIT_COLS.index("kind")] = event.kind.value
    return tuple(values)


def _state_values(stop: TrailingStop) -> tuple[Any, ...]:
    values = [getattr(stop, name) for name in _STATE_COLS]
    values[1] = stop.state.value
    return tuple(values)


def batch_statements(saves: Sequence[TrailingStop], deletes: Sequence[str], trailing: Sequence[TrailingEvent],
                     exits: Sequence[ExitEvent], max_args: int | None = None) -> list[tuple[str, list[Any]]]:
    """SQL and arguments writing the whole batch: one statement when it fits in `max_args` parameters
    (atomic by itself), else several that the caller runs in one transaction; [] when nothing to write."""
    # The old transaction upserted then deleted, so a symbol in both ends deleted; in one statement
    # a row may be touched once, so such a save is simply dropped. A symbol saved twice keeps its
    # last state (ON CONFLICT may also touch a row only once per statement).
    max_args = MAX_ARGS if max_args is None else max_args
    gone = sorted(set(deletes))
    latest = [s for s in {stop.symbol: stop for stop in saves}.values() if s.symbol not in gone]
    tables = [(_TRAILING_SQL, [_trailing_values(e) for e in trailing], {_TRAILING_COLS.index("final_state"): "::jsonb"},
               ""), (_EXIT_SQL, [_exit_values(e) for e in exits], {}, ""),
              (_STATE_SQL, [_state_values(s) for s in latest], {}, _STATE_CONFLICT)]
    total = sum(len(rows) * len(rows[0]) for _, rows, _, _ in tables if rows) + bool(gone)
    if total <= max_args:
        params = _Params()
        parts = [head + params.values(rows, casts) + tail for head, rows, casts, tail in tables if rows]
        if gone:
            params.args.append(gone)
            parts.append(f"{_DELETE_SQL}${len(params.args)}::varchar[])")
        if not parts:
            return []
        if len(parts) == 1:
            return [(parts[0], params.args)]
        ctes = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(parts[:-1]))
        return [(f"WITH {ctes} {parts[-1]}", params.args)]
    out: list[tuple[str, list[Any]]] = []
    for head, rows, casts, tail in tables:
        if not rows:
            continue
        per = max(1, max_args // len(rows[0]))
        for i in range(0, len(rows), per):
            params = _Params()
            out.append((head + params.values(rows[i:i + per], casts) + tail, params.args))
    if gone:
        out.append((f"{_DELETE_SQL}$1::varchar[])", [gone]))
    return out


_TRAILING_SQL = f"INSERT INTO trailing_stop_events ({', '.join(_TRAILING_COLS)}) VALUES "
_EXIT_SQL = f"INSERT INTO exit_events ({', '.join(_EXIT_COLS)}) VALUES "
_STATE_SQL = f"INSERT INTO trailing_stop_state ({', '.join(_STATE_COLS)}) VALUES "
_STATE_CONFLICT = " ON CONFLICT (symbol) DO UPDATE SET " + ", ".join(
    f"{c} = EXCLUDED.{c}" for c in _STATE_COLS if c != "symbol")
_DELETE_SQL = "DELETE FROM trailing_stop_state WHERE symbol = ANY("
