"""A fill the database refuses (a trigger that raises) is an emergency: its product's entries halt,
the user is notified again and again, /health and the dashboard name it, the raw fill waits in
`fill_dead_letters`, and `fills retry` records it once the cause is gone (issue #17)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from shared_data.db import to_plain_url
from tests.e2e import process_harness
from tests.e2e.harness import buy_alert, eventually
from tests.e2e.paper_harness import (
    PaperExchange,
    db_trade_ids,
    fetch,
    interrupt,
    paper_env,
    post_alert,
    run_cli,
    wait_for_agreement,
)
from tests.e2e.process_harness import DaemonProcess

pytestmark = pytest.mark.slow

REFUSE = """
CREATE FUNCTION bt_test_refuse_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.symbol = 'BTC-USD' THEN
        RAISE EXCEPTION 'forced failure: fills refuses %', NEW.trade_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER bt_test_refuse_fill BEFORE INSERT ON fills FOR EACH ROW EXECUTE FUNCTION bt_test_refuse_fill();
"""
FIXED = "DROP TRIGGER bt_test_refuse_fill ON fills; DROP FUNCTION bt_test_refuse_fill();"


async def _execute(db_url: str, sql: str) -> None:
    conn = await asyncpg.connect(to_plain_url(db_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, dict(await resp.json())


daemons = process_harness.daemons  # the shared fixture, under the name asked for


async def test_unrecordable_fill_halts_notifies_dead_letters_and_fills_retry_records_it(
        tmp_path: Path, db_url: str, daemons: list[DaemonProcess]) -> None:
    # Market entries: this test is about recording fills, and a post-only bid fills only when the
    # simulated market comes back to it (it once drifted above the entry's price ceiling for > 60 s).
    env = paper_env(db_url, tmp_path / "sim", FILL_RECORD_ATTEMPTS="2", FILL_DEAD_LETTER_WATCH_S="0.5",
                    NOTIFY_MIN_INTERVAL_S="1", ENTRY_ORDER_TYPE="market")
    daemon = DaemonProcess(env, mode="both")
    daemons.append(daemon)
    await daemon.start(ready_timeout=180)
    exchange = await PaperExchange.of(daemon)
    base = daemon.alert_url.rsplit("/", 1)[0]
    await _execute(db_url, REFUSE)

    assert await post_alert(daemon.alert_url, buy_alert("BTC-USD", notional="250")) == 200
    letters = await eventually(lambda: fetch(db_url, "SELECT * FROM fill_dead_letters"), timeout=60,
                               what="dead-letter row")
    letter = letters[0]
    assert letter["symbol"] == "BTC-USD" and letter["resolved_at"] is None
    assert "forced failure" in letter["error"] and letter["attempts"] >= 2
    raw = json.loads(letter["raw_fill"]) if isinstance(letter["raw_fill"], str) else letter["raw_fill"]
    assert raw["trade_id"] == letter["trade_id"] and raw["product_id"] == "BTC-USD" and raw["size"]
    assert letter["trade_id"] in await exchange.trade_ids()  # the exchange has it, we do not (yet)
    assert letter["trade_id"] not in await db_trade_ids(db_url)
    await daemon.wait_event("fill_dead_lettered", timeout=10)

    # Notified, and again while it lasts.
    await eventually(lambda: len(daemon.find("notification", topic="fill_unrecorded")) >= 2, timeout=30,
                     what="repeated notification")
    # /health is not ready and names it; the dashboard shows it as a failed row.
    status, health = await _get(f"{base}/health")
    assert status == 503 and "fills_unrecorded:BTC-USD" in health["problems"], health
    assert health["details"]["unrecorded_fills"][0]["trade_id"] == letter["trade_id"]
    _status, board = await _get(f"{base}/api/dashboard/health")
    assert {"fills_unrecorded:BTC-USD": False}.items() <= {f["name"]: f["healthy"] for f in board["feeds"]}.items()

    # New BTC entries halt; other products trade on.
    assert await post_alert(daemon.alert_url, buy_alert("BTC-USD", notional="260")) == 200
    refused = await eventually(lambda: daemon.find("alert_entry_refused", symbol="BTC-USD"), timeout=30,
                               what="BTC entry refused")
    assert refused[-1]["reason"] == "fills_unrecorded" and "fills retry" in refused[-1]["detail"], refused[-1]
    eth_before = len(await db_trade_ids(db_url))
    assert await post_alert(daemon.alert_url, buy_alert("ETH-USD", notional="270")) == 200
    await eventually(lambda: _count_above(db_url, eth_before), timeout=60, what="ETH entry recorded")

    # While the cause lasts, `fills retry` records nothing and says so.
    still = run_cli(env, "fills", "retry")
    assert still.returncode == 1 and "still failing" in still.stdout, still.stdout + still.stderr

    # Cause fixed → `fills retry` records it; the daemon notices, reloads its books, lifts the halt.
    await _execute(db_url, FIXED)
    retry = run_cli(env, "fills", "retry")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert "1 fill(s) recorded, 0 still failing" in retry.stdout, retry.stdout
    stored = await fetch(db_url, "SELECT resolved_at, resolved_via FROM fill_dead_letters")
    assert stored[0]["resolved_at"] is not None and stored[0]["resolved_via"] == "fills retry"
    assert (await db_trade_ids(db_url)).count(letter["trade_id"]) == 1
    await daemon.wait_event("fill_dead_letters_resolved", timeout=30)
    status, health = await eventually(lambda: _ready_without_letters(base), timeout=60, what="health clear")
    assert "fills_unrecorded:BTC-USD" not in health["problems"]

    btc_before = len(await db_trade_ids(db_url))
    assert await post_alert(daemon.alert_url, buy_alert("BTC-USD", notional="280")) == 200
    try:
        await eventually(lambda: _count_above(db_url, btc_before), timeout=60, what="BTC entry after the retry")
    except AssertionError as exc:  # it failed once under load: keep what the daemon said
        raise AssertionError(f"{exc}\n{daemon.tail(80)}") from None
    await wait_for_agreement(exchange, db_url, daemon, timeout=60)
    check = run_cli(env, "fifo", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert await interrupt(daemon) == 0


async def _count_above(db_url: str, before: int) -> bool:
    return len(await db_trade_ids(db_url)) > before


async def _ready_without_letters(base: str) -> tuple[int, dict[str, Any]] | None:
    status, health = await _get(f"{base}/health")
    return (status, health) if not any(p.startswith("fills_unrecorded") for p in health["problems"]) else None
