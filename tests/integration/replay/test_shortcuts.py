"""The replay's shortcuts (inner points nothing can react to, a flat product's close kept out of the
market cache until something reads it, a held product's quiet points not evaluated by the sentinel and,
while no order rests anywhere, not traded on the venue until it is read, sweeps while nothing is held,
the clock moved only when read, sighook's blockers reused, one claim per delivered alert) change
nothing: the same sample replayed with them and without them (every point, every sweep, blockers read
every time, the alert queue drained after each alert) gives a byte-identical report and the same rows
in every table the daemon records (bar the database's own clock columns)."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from replay.render import report_json
from replay.run import ReplayRequest
from replay.sample_data import generate
from shared_data.db import to_plain_url, with_database
from tests.integration.replay.support import Runner

LOOSE_BREAKERS = {"max_consecutive_losses": "1000", "daily_loss_limit_usd": "100000"}


@pytest.mark.slow
@pytest.mark.parametrize("red_day", [False, True], ids=["default", "red_day_refusals"])
async def test_shortcuts_do_not_change_the_report(tmp_path: Path, run_replay: Runner, pg_server_url: str,
                                                  red_day: bool) -> None:
    # Entries refused on a red day read the venue's 24 h candles: every close must still trade there.
    overrides = LOOSE_BREAKERS | ({"allow_buys_on_red_day": "false"} if red_day else {})
    files = generate(tmp_path / "sample", candles=6000)
    request = ReplayRequest(data=tuple(map(str, files)), ignore_dust=True, overrides=overrides)
    database = f"bt_test_replay_shortcuts_{uuid.uuid4().hex[:8]}"  # one name: it is part of the report
    reference = await run_replay(request, database=database, shortcuts=False)
    reference_rows = await _rows(pg_server_url, database)
    fast = await run_replay(request, database=database)
    assert reference.stats.skipped_points == 0 and reference.stats.quiet_points == 0
    assert fast.stats.quiet_points > 0
    # With the red-day rule on, inner points feed the venue's 24 h change: none is skipped then.
    assert (fast.stats.skipped_points == 0) if red_day else (fast.stats.skipped_points > 0)
    summary = reference.report["summary"]
    assert summary["trades"] > 5
    if red_day:  # some alerts were refused by the red-day rule, not ordered
        assert summary["entry_alerts_sent"] > summary["entries"]
    else:
        assert len(reference.report["performance"]["by_exit_reason"]) >= 3
    assert report_json(fast.report) == report_json(reference.report)
    rows = await _rows(pg_server_url, database)
    assert {t: len(r) for t, r in rows.items()} == {t: len(r) for t, r in reference_rows.items()}
    for table, expected in reference_rows.items():
        assert rows[table] == expected, table


# The database's own clock (DEFAULT now()) differs between runs; every other column is the replay's.
WALL_CLOCK_COLUMNS = frozenset({"id", "recorded_at", "created_at", "updated_at"})
TABLES = ("trade_records", "fills", "fifo_allocations", "exit_events", "trailing_stop_events",
          "trailing_stop_state", "working_orders", "alerts", "risk_state", "risk_events")


async def _rows(server_url: str, database: str) -> dict[str, list[tuple[object, ...]]]:
    conn = await asyncpg.connect(to_plain_url(with_database(server_url, database)), timeout=10)
    try:
        out: dict[str, list[tuple[object, ...]]] = {}
        for table in TABLES:
            columns = [r["column_name"] for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
                table) if r["column_name"] not in WALL_CLOCK_COLUMNS]
            listed = ", ".join(f'"{c}"::text' for c in columns)
            out[table] = sorted(tuple(r) for r in await conn.fetch(f"SELECT {listed} FROM {table}"))
        return out
    finally:
        await conn.close()
