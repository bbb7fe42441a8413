"""The background writer: coalesces per symbol, keeps failed writes, never lets an older state win."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from market_data.stop_events import ExitEvent, ExitEventKind, TrailingEventKind, trailing_event
from market_data.trailing_stop import TrailingStop, start_trailing
from market_data.trailing_store import EventBatch, TrailingWriter

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class FlakyRows:
    """A table that fails the first `failures` writes."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.rows: dict[str, TrailingStop] = {}
        self.batches: list[tuple[list[str], list[str]]] = []
        self.events: list[list[str]] = []  # the event kinds of each committed batch

    async def write(self, saves: Sequence[TrailingStop], deletes: Sequence[str], events: object = None) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database went away")
        self.batches.append(([s.symbol for s in saves], list(deletes)))
        if isinstance(events, EventBatch):
            self.events.append([e.kind.value for e in events.trailing] + [e.kind.value for e in events.exits])
        self.rows.update({s.symbol: s for s in saves})
        for symbol in deletes:
            self.rows.pop(symbol, None)


def stop(symbol: str, price: str) -> TrailingStop:
    return start_trailing(symbol, Decimal("100"), Decimal(price), None, T0)


async def test_latest_state_per_symbol_wins_and_deletes_are_batched() -> None:
    rows = FlakyRows(0)
    writer = TrailingWriter(rows)
    writer.save(stop("A", "101"))
    writer.save(stop("A", "102"))
    writer.save(stop("B", "101"))
    writer.delete("B")
    assert writer.pending == 2
    assert await writer.flush()
    assert rows.batches == [(["A"], ["B"])] and rows.rows["A"].highest_price == Decimal("102")


async def test_failed_write_is_kept_and_newer_state_wins() -> None:
    rows = FlakyRows(1)
    writer = TrailingWriter(rows)
    writer.save(stop("A", "101"))
    assert not await writer.write_pending()  # one failing attempt, then look at what is kept
    assert writer.pending == 1 and writer.failures == 1
    writer.save(stop("A", "103"))  # queued after the failure: it must win over the failed batch
    assert await writer.flush()
    assert rows.rows["A"].highest_price == Decimal("103")


async def test_run_writes_in_the_background_and_flushes_on_stop() -> None:
    rows = FlakyRows(0)
    writer = TrailingWriter(rows)
    halt = asyncio.Event()
    task = asyncio.create_task(writer.run(halt))
    writer.save(stop("A", "101"))
    halt.set()
    await asyncio.wait_for(task, timeout=10)
    assert writer.pending == 0 and "A" in rows.rows


async def test_events_go_with_their_state_and_keep_their_order_through_a_failure() -> None:
    rows = FlakyRows(1)
    writer = TrailingWriter(rows)
    a = stop("A", "101")
    writer.save(a)
    writer.record(trailing_event(a, TrailingEventKind.CREATED, T0))
    writer.record_exit(ExitEvent("A", ExitEventKind.DECIDED, T0, "trailing_stop"))
    assert not await writer.write_pending()  # the batch failed: neither state nor events were written
    assert rows.rows == {} and rows.events == []
    writer.record(trailing_event(a, TrailingEventKind.UPDATED, T0))  # newer, queued after the failure
    assert writer.pending == 4
    assert await writer.flush()
    assert rows.events == [["created", "updated", "decided"]] and "A" in rows.rows
    assert writer.pending == 0
