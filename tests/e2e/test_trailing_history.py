"""A trailing stop's whole life on the simulator, through the whole daemon, as history rows:
created → activated → exchange stop placed → three moves, each an in-place edit on the exchange →
triggered → exit decided, sent, filled → removed. Each checkpoint reads the state row and the
newest event in one snapshot: both carry the same `xmin`, i.e. one transaction wrote them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import ROUND_CEILING
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from shared_data.db import to_plain_url
from simulator.app import RunningSimulator
from tests.e2e.harness import buy_alert, e2e_settings, eventually, running_daemon, start_test_simulator

SYMBOL = "BTC-USD"
TICK = D("0.01")


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), [SYMBOL])
    try:
        yield running
    finally:
        await running.stop()


async def _fetch(db_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(to_plain_url(db_url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def _kinds(db_url: str, table: str = "trailing_stop_events") -> list[str]:
    rows = await _fetch(db_url, f"SELECT kind FROM {table} WHERE symbol = $1 ORDER BY id", SYMBOL)
    return [r["kind"] for r in rows]


async def _has(db_url: str, kinds: list[str], table: str = "trailing_stop_events") -> bool:
    return await _kinds(db_url, table) == kinds


async def _same_transaction(db_url: str) -> asyncpg.Record:
    """The state row and the newest event, read in one statement (one snapshot)."""
    rows = await _fetch(db_url, """
        SELECT s.xmin::text AS state_xmin, e.xmin::text AS event_xmin, s.state, s.current_stop, s.stop_order_price,
               e.kind, e.state AS event_state, e.stop_after
        FROM trailing_stop_state s
        JOIN LATERAL (SELECT xmin, * FROM trailing_stop_events WHERE symbol = s.symbol ORDER BY id DESC LIMIT 1) e
          ON true
        WHERE s.symbol = $1""", SYMBOL)
    assert rows, "no trailing_stop_state row"
    return rows[0]


@pytest.mark.slow
async def test_whole_life_of_a_trailing_stop_is_in_its_history(db_url: str, sim: RunningSimulator) -> None:
    settings = e2e_settings(protective_stop_enabled=True, protective_stop_min_interval_s=0,
                            protective_stop_min_improvement_pct="0.01", take_profit_pct="50")
    async with running_daemon(db_url, sim, settings) as d:
        sim.set_price(SYMBOL, D("100"))
        status, body = await d.post_alert(buy_alert(SYMBOL))
        assert status == 200, body
        # The sentinel's list of positions (not only the ledger's size) must hold it before its entry is read.
        await eventually(lambda: any(p.symbol == SYMBOL for p in d.parts["positions"].open_positions()),
                         what="position")
        entry = d.entry_price(SYMBOL)
        # A tick creates the trailing stop, unless the sentinel's 0.5 s sweep got there first on the cached
        # quote. The tick repeats that quote's price, so either way the stop starts from the same high and
        # "created" is the only event (a higher tick would add "updated" after a sweep's creation: seen in CI).
        sim.set_price(SYMBOL, D("100"))
        await eventually(lambda: _has(db_url, ["created"]), what="created event")

        sim.set_price(SYMBOL, (entry * D("1.04")).quantize(TICK))
        expected = ["created", "activated", "exchange_stop_placed"]
        await eventually(lambda: _has(db_url, expected), what="activated and exchange stop placed")
        row = await _same_transaction(db_url)
        assert row["state_xmin"] == row["event_xmin"] and row["state"] == "active"
        assert row["stop_order_price"] == row["stop_after"]

        for step in ("1.05", "1.06", "1.07"):
            before = row["current_stop"]
            sim.set_price(SYMBOL, (entry * D(step)).quantize(TICK))
            expected += ["stop_moved", "exchange_stop_edited"]  # moved in place (issue #21)
            await eventually(lambda e=list(expected): _has(db_url, e), what=f"stop moved at {step} and followed")
            row = await _same_transaction(db_url)
            assert row["state_xmin"] == row["event_xmin"], "state and its event in different transactions"
            assert row["current_stop"] > before and row["stop_order_price"] == row["stop_after"]
            moved = (await _fetch(db_url, """SELECT stop_before, stop_after FROM trailing_stop_events
                                             WHERE symbol=$1 AND kind='stop_moved' ORDER BY id DESC LIMIT 1""",
                                  SYMBOL))[0]
            assert moved["stop_before"] == before and moved["stop_after"] == row["current_stop"]

        # Just above the stop: the best bid (one tick below the last trade) is at or under the trailing
        # stop, the last trade is above the exchange stop, so the sentinel's exit goes first.
        stop = row["current_stop"]
        last = (stop / TICK).to_integral_value(rounding=ROUND_CEILING) * TICK
        sim.set_price(SYMBOL, last if last > stop else last + TICK)
        await eventually(lambda: _kinds(db_url, "exit_events"), what="exit events")
        await eventually(lambda: _has(db_url, ["decided", "order_sent", "filled"], "exit_events"),
                         what="exit decided, sent and filled")
        await eventually(lambda: d.position_size(SYMBOL) == 0, what="position closed")
        await eventually(lambda: _fetch(db_url, "SELECT 1 FROM trailing_stop_events WHERE symbol=$1 AND kind='removed'",
                                        SYMBOL), what="removed event")
        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{d.parts['port']}/health/trailing_stop") as resp:
            health = await resp.json()
        assert health["events_last_hour"]["trailing"] == {
            "created": 1, "activated": 1, "exchange_stop_placed": 1, "stop_moved": 3, "exchange_stop_edited": 3,
            "triggered": 1, "removed": 1}
        assert health["events_last_hour"]["exit"] == {"decided": 1, "order_sent": 1, "filled": 1}
        assert health["stale"] == [] and health["staleness_limit_s"] == d.settings.quote_max_age_s

    kinds = await _kinds(db_url)
    assert kinds == [*expected, "triggered", "removed"], kinds
    gone = await _fetch(db_url, "SELECT * FROM trailing_stop_state WHERE symbol = $1", SYMBOL)
    assert gone == []
    removed = (await _fetch(db_url, """SELECT final_state, detail FROM trailing_stop_events
                                       WHERE symbol=$1 AND kind='removed'""", SYMBOL))[0]
    assert removed["detail"] == "position closed" and '"triggered"' in removed["final_state"]
    exits = await _fetch(db_url, "SELECT kind, reason, order_id FROM exit_events WHERE symbol=$1 ORDER BY id", SYMBOL)
    assert [e["reason"] for e in exits] == ["trailing_stop"] * 3
    assert exits[1]["order_id"] and exits[1]["order_id"] == exits[2]["order_id"]
    times = await _fetch(db_url, """SELECT at FROM trailing_stop_events WHERE symbol=$1 ORDER BY id""", SYMBOL)
    assert [t["at"] for t in times] == sorted(t["at"] for t in times)
