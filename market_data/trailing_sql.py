"""The trailing writer's batch as ONE hand-written statement (sent through `shared_data.direct`).

A batch used to be a transaction of up to five ORM statements (events, exit events, state upsert,
delete, plus BEGIN/COMMIT). One statement made of data-modifying CTEs is atomic by itself, so the
history-and-state-together guarantee is unchanged: the batch commits entirely or not at all.
Rows keep their order within each table (array order = id order).
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
# Each column travels as one array parameter (its SQL type below): the statement's text is the same for
# every batch size, so the driver prepares it once per connection, and no batch meets PostgreSQL's
# 32,767-parameter limit.
_TYPES = {
    "symbol": "varchar", "kind": "varchar", "at": "timestamptz", "state": "varchar", "entry_price": "numeric",
    "position_opened_at": "timestamptz", "position_size": "numeric", "price": "numeric", "highest_price": "numeric",
    "stop_before": "numeric", "stop_after": "numeric", "order_id": "varchar", "detail": "text",
    "final_state": "text", "reason": "varchar", "attempt": "int4", "order_kind": "varchar", "size": "numeric",
    "target_price": "numeric", "quote_price": "numeric", "lowest_price": "numeric", "current_stop": "numeric",
    "atr": "numeric", "stop_order_id": "varchar", "stop_order_price": "numeric", "stop_order_moved_at": "timestamptz",
    "activated_at": "timestamptz", "opened_at": "timestamptz", "last_update_time": "timestamptz",
    "update_count": "int4",
}
_CASTS = {"final_state": "::jsonb"}


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


def batch_statement(saves: Sequence[TrailingStop], deletes: Sequence[str], trailing: Sequence[TrailingEvent],
                    exits: Sequence[ExitEvent]) -> tuple[str, list[Any]] | None:
    """SQL and arguments writing the whole batch as one statement (atomic by itself); None when there is
    nothing to write."""
    # The old transaction upserted then deleted, so a symbol in both ends deleted; in one statement
    # a row may be touched once, so such a save is simply dropped. A symbol saved twice keeps its
    # last state (ON CONFLICT may also touch a row only once per statement).
    gone = sorted(set(deletes))
    latest = [s for s in {stop.symbol: stop for stop in saves}.values() if s.symbol not in gone]
    if not (trailing or exits or latest or gone):
        return None
    args: list[Any] = []
    args += _columns(_TRAILING_COLS, [_trailing_values(e) for e in trailing])
    args += _columns(_EXIT_COLS, [_exit_values(e) for e in exits])
    args += _columns(_STATE_COLS, [_state_values(s) for s in latest])
    args.append(gone)
    return BATCH_SQL, args


def _columns(cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(len(cols))]


def _insert(table: str, cols: Sequence[str], first: int) -> str:
    """INSERT … SELECT from one array per column, rows in array order (so ids rise in the batch's order)."""
    arrays = ", ".join(f"${first + i}::{_TYPES[c]}[]" for i, c in enumerate(cols))
    names = ", ".join(f'"{c}"' for c in cols)
    picked = ", ".join(f'u."{c}"{_CASTS.get(c, "")}' for c in cols)
    return (f"INSERT INTO {table} ({names}) SELECT {picked} FROM unnest({arrays}) WITH ORDINALITY AS u({names}, n) "
            "ORDER BY n")


_STATE_CONFLICT = " ON CONFLICT (symbol) DO UPDATE SET " + ", ".join(
    f'"{c}" = EXCLUDED."{c}"' for c in _STATE_COLS if c != "symbol")
_DELETE_PARAM = len(_TRAILING_COLS) + len(_EXIT_COLS) + len(_STATE_COLS) + 1
BATCH_SQL = (
    f"WITH w0 AS ({_insert('trailing_stop_events', _TRAILING_COLS, 1)}), "
    f"w1 AS ({_insert('exit_events', _EXIT_COLS, 1 + len(_TRAILING_COLS))}), "
    f"w2 AS (DELETE FROM trailing_stop_state WHERE symbol = ANY(${_DELETE_PARAM}::varchar[])) "
    f"{_insert('trailing_stop_state', _STATE_COLS, 1 + len(_TRAILING_COLS) + len(_EXIT_COLS))}{_STATE_CONFLICT}"
)
