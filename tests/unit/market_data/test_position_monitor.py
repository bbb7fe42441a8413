"""The exit sentinel over in-memory ports: tick path, sweep, staleness, HODL, one live exit, attempt limit,
trailing stops and their persistence hand-off."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.clock import ManualClock
from core.enums import ExitReason, TrailingState
from core.metrics import REGISTRY
from core.settings import Settings, load_settings
from market_data.exit_policy import ExitOrderKind
from market_data.market_cache import MarketCache
from market_data.ports import ExitSubmission, SignalView
from market_data.position_monitor import PositionMonitor
from market_data.protective_stop import ProtectiveStopManager
from market_data.stop_events import ExitEvent, TrailingEvent
from market_data.trailing_stop import TrailingStop, start_trailing
from market_data.trailing_store import EventBatch, TrailingWriter
from tests.unit.market_data.inmemory import ListExecutor, ListNotifier, Position, Positions, Signals, StopBook

D = Decimal
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class MemoryRows:
    """A trailing_stop_state table in a dict."""

    def __init__(self) -> None:
        self.rows: dict[str, TrailingStop] = {}
        self.writes = 0
        self.trailing_events: list[TrailingEvent] = []
        self.exit_events: list[ExitEvent] = []

    async def write(self, saves: Sequence[TrailingStop], deletes: Sequence[str], events: object = None) -> None:
        self.writes += 1
        if isinstance(events, EventBatch):
            self.trailing_events += events.trailing
            self.exit_events += events.exits
        for stop in saves:
            self.rows[stop.symbol] = stop
        for symbol in deletes:
            self.rows.pop(symbol, None)


class Rig:
    def __init__(self, *positions: Position, executor: ListExecutor | None = None,
                 trailing: dict[str, TrailingStop] | None = None, source: Positions | None = None,
                 book: StopBook | None = None, **settings: Any) -> None:
        self.settings: Settings = load_settings(**settings)
        self.clock = ManualClock(T0)
        self.cache = MarketCache()
        self.positions = source or Positions(*positions)
        self.signals = Signals()
        self.executor = executor or ListExecutor()
        self.notifier = ListNotifier()
        self.rows = MemoryRows()
        self.writer = TrailingWriter(self.rows)
        protective = ProtectiveStopManager(book, self.settings, self.clock) if book is not None else None
        self.monitor = PositionMonitor(self.settings, self.cache, self.positions, self.signals, self.executor,
                                       self.notifier, clock=self.clock, writer=self.writer, trailing=trailing,
                                       protective=protective)
        self.monitor.attach()

    def tick(self, symbol: str, price: str, bid: str | None = None) -> None:
        self.cache.update(symbol, D(price), best_bid=D(bid) if bid else None, received_mono=self.clock.monotonic(),
                          received_at=self.clock.now())

    async def settle(self) -> None:
        await self.monitor.drain()


def sol(entry: str = "100", size: str = "2") -> Position:
    return Position("SOL-USD", D(size), D(entry), opened_at=T0 - timedelta(hours=1))


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_tick_that_crosses_the_hard_stop_places_a_market_exit() -> None:
    rig = Rig(sol())
    before = metric("bt_exits_total", reason="hard_stop")
    rig.tick("SOL-USD", "100")
    rig.tick("SOL-USD", "94.9", bid="94.8")
    await rig.settle()
    [call] = rig.executor.calls
    assert call.decision.reason is ExitReason.HARD_STOP and call.decision.order_kind is ExitOrderKind.MARKET
    assert call.decision.quote_price == D("94.8") and call.decision.target_price == D("95")
    assert metric("bt_exits_total", reason="hard_stop") == before + 1


async def test_ticks_of_other_symbols_do_nothing() -> None:
    rig = Rig(sol())
    rig.tick("ETH-USD", "1")
    await rig.settle()
    assert rig.executor.calls == []


async def test_stale_quotes_are_refused_logged_counted_and_notified() -> None:
    rig = Rig(sol(), quote_max_age_s=10)
    stale_before = metric("bt_stale_quotes_total")
    rig.clock.advance(100)
    rig.cache.update("SOL-USD", D("90"), received_mono=rig.clock.monotonic() - 11, received_at=rig.clock.now())
    rig.monitor.sweep()
    await rig.settle()
    assert rig.executor.calls == []  # the price crosses the hard stop, but the quote is 11 s old
    assert metric("bt_stale_quotes_total") == stale_before + 2  # on its arrival and in the sweep
    assert rig.notifier.topics() == ["stale_quote"]  # notified once (throttled)
    rig.tick("SOL-USD", "90")  # fresh again: it acts
    await rig.settle()
    assert [c.decision.reason for c in rig.executor.calls] == [ExitReason.HARD_STOP]


async def test_hodl_assets_are_never_sold_and_a_large_loss_alerts() -> None:
    rig = Rig(sol(), hodl_assets="SOL", hodl_large_loss_alert_pct=-10)
    skipped = metric("bt_exits_skipped_total", cause="hodl")
    rig.tick("SOL-USD", "94")
    await rig.settle()
    assert rig.executor.calls == [] and rig.notifier.messages == []
    assert metric("bt_exits_skipped_total", cause="hodl") == skipped + 1
    rig.tick("SOL-USD", "89")
    await rig.settle()
    assert rig.executor.calls == [] and rig.notifier.topics() == ["hodl_large_loss"]
    assert rig.monitor.trailing_stop("SOL-USD") is None


async def test_one_live_exit_per_position() -> None:
    gate = asyncio.Event()
    rig = Rig(sol(), executor=ListExecutor(gate=gate))
    for price in ("97", "96.9", "96.8"):  # soft stop, submission still in flight
        rig.tick("SOL-USD", price)
        await asyncio.sleep(0)
    assert len(rig.executor.calls) == 1
    gate.set()
    await rig.settle()
    rig.tick("SOL-USD", "96.7")  # the exit order is live: no second one
    await rig.settle()
    assert len(rig.executor.calls) == 1
    rig.tick("SOL-USD", "94")  # but a hard stop replaces a live soft-stop limit
    await rig.settle()
    assert [c.decision.reason for c in rig.executor.calls] == [ExitReason.SOFT_STOP, ExitReason.HARD_STOP]
    rig.tick("SOL-USD", "93")
    await rig.settle()
    assert len(rig.executor.calls) == 2
    rig.monitor.exit_finished("SOL-USD", filled=False)  # the IOC expired unfilled: try again
    rig.tick("SOL-USD", "93")
    await rig.settle()
    assert len(rig.executor.calls) == 3
    assert await rig.writer.flush()
    assert [(e.kind.value, e.reason) for e in rig.rows.exit_events] == [
        ("decided", "soft_stop"), ("order_sent", "soft_stop"),
        ("escalated", "hard_stop"), ("decided", "hard_stop"), ("order_sent", "hard_stop"),
        ("failed", "hard_stop"), ("decided", "hard_stop"), ("order_sent", "hard_stop")]
    assert rig.rows.exit_events[5].detail == "exit order ended without a fill"


async def test_attempt_limit_with_backoff_then_one_alert() -> None:
    failing = ListExecutor([ExitSubmission(ok=False, error="INSUFFICIENT_FUND"), RuntimeError("boom")] * 3)
    rig = Rig(sol(), executor=failing, exit_max_attempts=2)
    rig.tick("SOL-USD", "94")
    await rig.settle()
    rig.tick("SOL-USD", "94")  # within the backoff: no new try
    await rig.settle()
    assert len(failing.calls) == 1
    for _ in range(5):
        rig.clock.advance(60)
        rig.tick("SOL-USD", "94")
        await rig.settle()
    assert len(failing.calls) == 2
    assert rig.notifier.topics() == ["exit_failed"]


async def test_trailing_stop_is_created_activated_persisted_and_fires() -> None:
    rig = Rig(sol())
    rig.signals.views["SOL-USD"] = SignalView(sell=False, atr=D("1"), as_of=T0)
    created = metric("bt_trailing_stops_created_total")
    for price in ("101", "103.5", "104", "105.3"):
        rig.tick("SOL-USD", price)
    stop = rig.monitor.trailing_stop("SOL-USD")
    assert stop is not None and stop.state is TrailingState.ACTIVE and stop.current_stop == D("103")
    assert metric("bt_trailing_stops_created_total") == created + 1
    await rig.writer.flush()
    assert rig.rows.rows["SOL-USD"] == stop
    rig.tick("SOL-USD", "102.9")
    await rig.settle()
    [call] = rig.executor.calls
    assert call.decision.reason is ExitReason.TRAILING_STOP and call.decision.target_price == D("103")
    assert call.decision.order_kind is ExitOrderKind.LIMIT and call.decision.limit_price == D("102.9")


async def test_sweep_skips_unchanged_positions_and_catches_a_new_signal() -> None:
    rig = Rig(sol(), Position("ETH-USD", D("1"), D("2000")))
    rig.tick("SOL-USD", "101")
    rig.tick("ETH-USD", "2010")
    assert rig.monitor.sweep() == 0  # both evaluated on their ticks, nothing changed since
    rig.signals.views["SOL-USD"] = SignalView(sell=True, atr=None, as_of=T0)
    assert rig.monitor.sweep() == 1
    await rig.settle()
    assert [(c.symbol, c.decision.reason) for c in rig.executor.calls] == [("SOL-USD", ExitReason.SIGNAL)]


async def test_closed_positions_lose_their_trailing_stop() -> None:
    rig = Rig(sol())
    rig.tick("SOL-USD", "101")
    await rig.writer.flush()
    assert "SOL-USD" in rig.rows.rows
    rig.positions.close("SOL-USD")
    rig.monitor.sweep()
    await rig.writer.flush()
    assert rig.monitor.trailing_stop("SOL-USD") is None and rig.rows.rows == {}


async def test_restored_trailing_stops_are_left_alone_until_their_position_is_seen() -> None:
    restored = start_trailing("SOL-USD", D("100"), D("104"), None, T0)
    rig = Rig(trailing={"SOL-USD": restored})
    rig.monitor.sweep()  # the position source has not loaded yet: nothing may be deleted
    await rig.writer.flush()
    assert rig.monitor.trailing_stop("SOL-USD") == restored and rig.rows.writes == 0
    rig.positions.items.append(sol())
    rig.tick("SOL-USD", "104.5")  # the restored stop carries on
    stop = rig.monitor.trailing_stop("SOL-USD")
    assert stop is not None and stop.state is TrailingState.ACTIVE and stop.update_count == 1


class CountingPositions(Positions):
    """Sets `swept` once the monitor has asked for the positions `n` times."""

    def __init__(self, n: int, *positions: Position) -> None:
        super().__init__(*positions)
        self.asked, self.n, self.swept = 0, n, asyncio.Event()

    def open_positions(self) -> Sequence[Position]:
        self.asked += 1
        if self.asked >= self.n:
            self.swept.set()
        return self.items


async def test_run_sweeps_until_stopped() -> None:
    counting = CountingPositions(4, sol())  # the start log asks once too
    rig = Rig(source=counting, sentinel_sweep_interval_s=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(rig.monitor.run(stop))
    await asyncio.wait_for(counting.swept.wait(), timeout=10)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert rig.monitor.sweeps >= 3


async def test_protective_stop_follows_the_trailing_stop_and_leaves_no_orphan() -> None:
    book = StopBook()
    rig = Rig(sol(), book=book, protective_stop_enabled=True)
    clock = rig.clock
    rig.signals.views["SOL-USD"] = SignalView(sell=False, atr=D("1"), as_of=T0)
    rig.tick("SOL-USD", "103.5")  # activates at 101.5 → a stop order is placed
    await rig.settle()
    [placed] = book.open_orders()
    assert placed.request.stop_price == D("101.5")
    stop = rig.monitor.trailing_stop("SOL-USD")
    assert stop is not None and stop.stop_order_id == placed.order_id
    clock.advance(5)
    rig.tick("SOL-USD", "104")  # stop 102: +0.49 % but only 5 s later → not moved
    await rig.settle()
    assert book.open_orders() == [placed]
    rig.tick("SOL-USD", "106")  # stop 104: +2.46 % ≥ 1 % → bypass, moved at once
    await rig.settle()
    [moved] = book.open_orders()  # moved in place: same order, edited
    assert moved.request.stop_price == D("104") and moved.order_id == placed.order_id
    assert book.edits == {placed.order_id: 1}
    rig.positions.close("SOL-USD")
    rig.monitor.sweep()
    await rig.settle()
    assert book.open_orders() == []
    assert await rig.writer.flush()
    history = [(e.kind.value, e.stop_before, e.stop_after) for e in rig.rows.trailing_events]
    assert history == [("created", None, None), ("activated", None, D("101.5")),
                       ("exchange_stop_placed", None, D("101.5")),
                       ("stop_moved", D("101.5"), D("102")),  # decided; the exchange stop stays (rate limit)
                       ("stop_moved", D("102"), D("104")), ("exchange_stop_edited", D("101.5"), D("104")),
                       ("removed", D("104"), None)]
    assert rig.rows.trailing_events[-1].final_state is not None and "SOL-USD" not in rig.rows.rows


async def test_a_position_that_never_gets_a_quote_counts_as_stale() -> None:
    rig = Rig(sol(), quote_max_age_s=10)
    before = metric("bt_stale_quotes_total")
    rig.monitor.sweep()  # just started: waiting for the first quote is not yet a problem
    rig.clock.advance(5)
    rig.monitor.sweep()
    assert metric("bt_stale_quotes_total") == before and rig.notifier.messages == []
    rig.clock.advance(6)
    rig.monitor.sweep()
    await rig.settle()
    assert metric("bt_stale_quotes_total") == before + 1
    assert rig.notifier.topics() == ["stale_quote"] and "no quote" in rig.notifier.messages[0][1]


async def test_an_exchange_stop_cancelled_by_someone_else_is_placed_again_as_a_new_order() -> None:
    book = StopBook()
    rig = Rig(sol(), book=book, protective_stop_enabled=True)
    rig.signals.views["SOL-USD"] = SignalView(sell=False, atr=D("1"), as_of=T0)
    rig.tick("SOL-USD", "103.5")
    await rig.settle()
    [placed] = book.open_orders()
    await book.cancel_orders([placed.order_id])  # not by the daemon
    rig.monitor.exit_finished("SOL-USD", filled=False, order_id=placed.order_id)  # the user channel says so
    rig.tick("SOL-USD", "103.5")
    await rig.settle()
    [again] = book.open_orders()
    assert again.order_id != placed.order_id and again.request.client_order_id != placed.request.client_order_id
    assert again.request.stop_price == placed.request.stop_price
    assert rig.monitor.trailing_stop("SOL-USD").stop_order_id == again.order_id  # type: ignore[union-attr]
    assert rig.executor.calls == []  # not an exit attempt
    assert await rig.writer.flush()
    kinds = [e.kind.value for e in rig.rows.trailing_events]
    assert kinds[-2:] == ["exchange_stop_failed", "exchange_stop_placed"]
    assert "cancelled outside the daemon" in (rig.rows.trailing_events[-2].detail or "")
