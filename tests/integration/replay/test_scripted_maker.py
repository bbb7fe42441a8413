"""The replay with the default maker-first execution (post-only entries, resting exits), on small scripted
markets worked out by hand. The working-order desk is polled on the intrabar path every
WORKING_POLL_INTERVAL_S of virtual time (1 s; the points of a 1-minute candle are 20 s apart, so at every
point while it works an order).

Common facts (tests/integration/replay/scripted.py): BTC-USD quiet at 100.00 for 70 candles; the entry is
planned at 01:10:00 (the close of candle 69) with 100 USD. The synthetic book's half-spread is 0.01, so
bid 99.99 / ask 100.01. A post-only buy joins the bid: limit 99.99, never above the ask its caps were
checked at (the price ceiling, 100.01), sized at that ceiling with the maker fee (0.6 %):
size = floor(100 / (100.01 × 1.006), 1e-8). A resting sell sits at bid × 1.0001 rounded up to the tick.
"""

from __future__ import annotations

import json
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import asyncpg

from replay.data import write_csv
from replay.render import markdown, report_json
from replay.run import ReplayOutcome, ReplayRequest
from tests.integration.replay.scripted import QUIET, START, write_scripted
from tests.integration.replay.scripted import SETTINGS as TAKER_SETTINGS
from tests.integration.replay.support import Runner

# The scripted settings without their taker pins: the defaults (post_only, resting) apply.
SETTINGS = {k: v for k, v in TAKER_SETTINGS.items() if k not in ("entry_order_type", "exit_order_style")}
MAKER, TAKER = Decimal("0.006"), Decimal("0.012")
SIZE = (Decimal(100) / (Decimal("100.01") * (1 + MAKER))).quantize(Decimal("1e-8"), rounding=ROUND_FLOOR)


def _at(offset_s: int) -> str:
    return f"2026-01-01T01:{10 + offset_s // 60:02d}:{offset_s % 60:02d}"


async def _rows(outcome: ReplayOutcome) -> tuple[list[Any], list[Any], list[Any]]:
    conn = await asyncpg.connect(outcome.database_url.replace("***", ""))  # test server URLs carry no password
    try:
        fills = await conn.fetch("SELECT side, size, price, commission, liquidity_indicator, trade_time FROM fills "
                                 "ORDER BY trade_time, side")
        working = await conn.fetch("SELECT purpose, state, amend_count, escalated, steps FROM working_orders "
                                   "ORDER BY started_at, purpose")
        records = await conn.fetch("SELECT side, status, order_type, price, exit_reason FROM trade_records "
                                   "ORDER BY order_time, side")
    finally:
        await conn.close()
    return list(fills), list(working), list(records)


def _steps(row: Any) -> list[tuple[str, str]]:
    return [(s["step"], s["at"][:19]) for s in json.loads(row["steps"])]


async def test_post_only_entry_fills_as_maker_and_the_exit_rests(run_replay: Runner, tmp_path: Path) -> None:
    """The drop candle (red: open 01:10:00 100.00, high 01:10:20 100.00, low 01:10:40 97.40, close
    01:10:59 97.45). The bid 99.99 rests until the low trades below it: filled at 99.99, maker fee. At
    that point the sentinel sees bid 97.39: (97.39 − 99.99)/99.99 = −2.60 % → soft stop (target 99.99 ×
    0.975 = 97.49025), resting at 97.39 × 1.0001 → 97.40; the close (97.45) trades above it: filled at
    97.40, maker fee."""
    data = write_scripted(tmp_path / "scripted.csv")
    outcome = await run_replay(ReplayRequest(data=(str(data),), overrides=SETTINGS))
    fills, working, _ = await _rows(outcome)
    buy_value, sell_value = SIZE * Decimal("99.99"), SIZE * Decimal("97.40")
    assert [(f["side"], f["size"], f["price"], f["liquidity_indicator"], f["commission"],
             f["trade_time"].isoformat()[:19]) for f in fills] == [
        ("BUY", SIZE, Decimal("99.99"), "MAKER", buy_value * MAKER, _at(40)),
        ("SELL", SIZE, Decimal("97.40"), "MAKER", sell_value * MAKER, _at(59)),
    ]
    [trade] = outcome.report["trades"]
    assert (trade["exit_reason"], trade["entry_price"], trade["exit_price"], trade["quote_seen"],
            trade["target_price"]) == ("soft_stop", "99.99", "97.4", "97.39", "97.49025")
    pnl = sell_value * (1 - MAKER) - buy_value * (1 + MAKER)
    assert trade["pnl_usd"] == str(pnl.quantize(Decimal("0.01")))
    assert [(w["purpose"], w["state"], w["amend_count"], w["escalated"]) for w in working] == [
        ("entry", "filled", 0, False), ("exit", "filled", 0, False)]
    assert _steps(working[0]) == [("placed", _at(0)), ("filled", _at(40)), ("finished", _at(40))]
    assert _steps(working[1]) == [("placed", _at(40)), ("filled", _at(59)), ("finished", _at(59))]

    execution = outcome.report["execution"]
    assert execution["entry_order_type"] == {"sighook": "post_only", "tradingview": "post_only",
                                             "webhook": "post_only"}
    assert execution["exit_order_style"] == "resting"
    assert [(f["side"], f["liquidity"], f["orders"]) for f in execution["fills"]] == [
        ("BUY", "MAKER", 1), ("SELL", "MAKER", 1)]
    assert outcome.report["settings"]["entry_order_type"] == "post_only"
    page = markdown(outcome.report, {"seconds": 0, "candles_per_s": None})
    assert "Entries: sighook post_only, tradingview post_only, webhook post_only. Exits: resting" in page
    assert "| BUY | MAKER | 1 | 1 |" in page


async def test_unfilled_entry_is_repriced_then_cancelled_at_its_ttl(run_replay: Runner, tmp_path: Path) -> None:
    """The market rises away from the bid; ENTRY_ORDER_TTL_S=90. Candle 70 (green: open 01:10:00 100.00,
    low 01:10:20 100.00, high 01:10:40 100.60, close 01:10:59 100.50) and candle 71 (open 01:11:00 100.50,
    low 01:11:20 100.50, high 01:11:40 100.70, close 01:11:59 100.60) never trade below the bid. At
    01:10:40 the bid is 100.59: the entry re-prices, capped at its ceiling 100.01. Candle 70's buy row
    (cycle at 01:11:00) finds that open buy. The TTL ends at 01:11:30: the first poll after it, at
    01:11:40, cancels the entry unfilled. Candle 71's row (01:12:00) enters again, at the new bid 100.59 —
    with and without the replay's shortcuts alike (sighook's cached blockers must see the cancel, which
    adds no order and no fill)."""
    rows = [(START + 60 * i, "100.00", "100.50", "99.50", "100.00", "10") for i in range(QUIET)]
    rows += [(START + 60 * QUIET, "100.00", "100.60", "100.00", "100.50", "10"),
             (START + 60 * (QUIET + 1), "100.50", "100.70", "100.50", "100.60", "10")]
    write_csv(tmp_path / "BTC-USD.csv", "BTC-USD", rows)
    request = ReplayRequest(data=(str(tmp_path / "BTC-USD.csv"),), overrides={**SETTINGS, "entry_order_ttl_s": "90"})
    outcome = await run_replay(request)
    fills, working, records = await _rows(outcome)
    assert fills == []
    first, second = working
    assert (first["purpose"], first["state"], first["amend_count"]) == ("entry", "cancelled", 1)
    steps = json.loads(first["steps"])
    assert _steps(first) == [("placed", _at(0)), ("repriced", _at(40)), ("ttl_cancelled", _at(100)),
                             ("finished", _at(100))]
    assert (steps[0]["price"], steps[1]["from_price"], steps[1]["to_price"]) == ("99.99", "99.99", "100.01")
    assert steps[3]["why"] == "ttl"
    assert (second["purpose"], second["state"]) == ("entry", "working")
    assert _steps(second) == [("placed", _at(120))] and json.loads(second["steps"])[0]["price"] == "100.59"
    # The last one rests unfilled: its row stays as sent (an OPEN update alone prompts no fill recording).
    assert [(r["side"], r["status"], r["price"]) for r in records] == [
        ("BUY", "CANCELLED", Decimal("99.99")), ("BUY", "CANCELLED", Decimal("100.01")),
        ("BUY", "PENDING", Decimal("100.59"))]
    summary = outcome.report["summary"]
    assert (summary["entries"], summary["trades"], summary["entry_signals_skipped"]) == (0, 0, {"open_buy": 1})
    assert [(w["purpose"], w["state"], w["count"], w["reprices"]) for w in outcome.report["execution"][
        "working_orders"]] == [("entry", "cancelled", 1, 1), ("entry", "working", 1, 0)]

    reference = await run_replay(request, shortcuts=False)
    assert report_json(reference.report | {"database": ""}) == report_json(outcome.report | {"database": ""})


async def test_resting_exit_escalates_to_market_after_exit_escalate_s(run_replay: Runner, tmp_path: Path) -> None:
    """The drop candle closes at its low (97.40) and the market stays there. The entry fills at 01:10:40
    (as above) and the soft-stop sell rests at 97.40; no later point trades above 97.40, so after
    EXIT_ESCALATE_S (30 s) the poll at 01:11:20 (the first point 30 s or more after 01:10:40) cancels it
    and sells at market: the bid 97.39, taker fee."""
    data = write_scripted(tmp_path / "scripted.csv", drop=("100.00", "100.00", "97.40", "97.40"), after=2)
    outcome = await run_replay(ReplayRequest(data=(str(data),), overrides=SETTINGS))
    fills, working, records = await _rows(outcome)
    assert [(f["side"], f["price"], f["liquidity_indicator"], f["commission"], f["trade_time"].isoformat()[:19])
            for f in fills] == [
        ("BUY", Decimal("99.99"), "MAKER", SIZE * Decimal("99.99") * MAKER, _at(40)),
        ("SELL", Decimal("97.39"), "TAKER", SIZE * Decimal("97.39") * TAKER, _at(80)),
    ]
    exit_row = working[1]
    assert (exit_row["purpose"], exit_row["state"], exit_row["escalated"]) == ("exit", "filled", True)
    assert [k for k, _ in _steps(exit_row)] == ["placed", "escalated", "filled", "finished"]
    assert _steps(exit_row)[1] == ("escalated", _at(80)) and json.loads(exit_row["steps"])[1]["why"] == "timeout"
    assert [(r["side"], r["status"], r["order_type"], r["exit_reason"]) for r in records] == [
        ("BUY", "FILLED", "LIMIT", None), ("SELL", "CANCELLED", "LIMIT", "soft_stop"),
        ("SELL", "FILLED", "MARKET", "soft_stop")]
    [trade] = outcome.report["trades"]
    assert (trade["exit_reason"], trade["exit_price"], trade["exit_time"]) == (
        "soft_stop", "97.39", _at(80) + ".000000Z")
    assert [(w["purpose"], w["state"], w["escalated"]) for w in outcome.report["execution"]["working_orders"]] == [
        ("entry", "filled", 0), ("exit", "filled", 1)]


async def test_entry_fill_and_hard_stop_at_the_same_point(run_replay: Runner, tmp_path: Path) -> None:
    """The drop candle's low (94.00, 01:10:40) fills the bid 99.99 and, at the same point, the sentinel sees
    bid 93.99: (93.99 − 99.99)/99.99 = −6.0 % ≤ −5 → hard stop, a market sell at 93.99 (taker). Both fills
    carry the same virtual second; FIFO must still match the sell against that buy (the venue's sequence
    timestamps keep the engine's order), leaving no position and a P&L with its cost basis."""
    data = write_scripted(tmp_path / "scripted.csv", drop=("100.00", "100.00", "94.00", "94.50"), after=2)
    outcome = await run_replay(ReplayRequest(data=(str(data),), overrides=SETTINGS))
    fills, _, _ = await _rows(outcome)
    assert [(f["side"], f["price"], f["liquidity_indicator"], f["trade_time"].isoformat()[:19]) for f in fills] == [
        ("BUY", Decimal("99.99"), "MAKER", _at(40)), ("SELL", Decimal("93.99"), "TAKER", _at(40))]
    [trade] = outcome.report["trades"]
    pnl = SIZE * Decimal("93.99") * (1 - TAKER) - SIZE * Decimal("99.99") * (1 + MAKER)
    assert (trade["exit_reason"], trade["entry_price"], trade["pnl_usd"]) == (
        "hard_stop", "99.99", str(pnl.quantize(Decimal("0.01"))))
    assert outcome.report["summary"]["open_positions_at_end"] == []
