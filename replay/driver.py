"""The replay loop: walk the timeline in virtual time and call what the daemon's loops would call.

Per price point (a trade on the tape): move the venue's market (resting orders and stops work
against it), let the fill processor record any order that changed (what a user-channel update
prompts live), then update the market cache — whose listener is the exit sentinel, evaluating the
symbol's position on the tick exactly as it does live — and wait until everything that started
(exit submissions, fills, breaker bookkeeping) has finished before time moves on.

Per candle close (a sighook cycle): the product's matrix row becomes current for the sentinel's
signal exits, buy rows go through sighook's entry planner to webhook's alert path, the sentinel's
safety-net sweep runs once, and the trailing-stop writer flushes (live it coalesces too).

The working-order desk (post-only entries, resting exits) is polled as its loop polls it live: every
WORKING_POLL_INTERVAL_S of virtual time while it has working orders — at the first price point (of
any product, played or skipped) whose time reaches the next poll, after that point has traded. The
market moves only at price points, so a poll between two points would see what the earlier one saw.

Nothing here decides anything: all decisions are the daemon's own code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.money import ZERO
from core.settings import Settings
from exchange.models import granularity_seconds
from market_data.quiet_band import QuietBand
from replay.assembly import Parts
from replay.clock import VirtualClock
from replay.entries import InProcessEntryAlerter
from replay.path import CYCLE, Timeline
from replay.signals import SignalTable
from replay.venue import InProcessExchange
from sighook.matrix import BuySellMatrix, MatrixRow
from sighook.rules import DEFAULT_WEIGHTS
from webhook.order_updates import OrderPrompt, UpdateDeduper

EQUITY_SAMPLES = 1500
# The trailing-stop writer coalesces (latest state per symbol wins) and runs when the database is free;
# a replay flushes it at most this often in virtual time, and always at the end.
TRAILING_FLUSH_S = 3600

Progress = Callable[[int, datetime], None]


@dataclass
class RunStats:
    events: int = 0
    cycles: int = 0
    buy_rows: int = 0
    entries_sent: int = 0
    entries_skipped: dict[str, int] = field(default_factory=dict)
    dust_blocked: int = 0
    skipped_points: int = 0
    quiet_points: int = 0  # held products' points the sentinel would have done nothing with (not evaluated)
    orders_processed: int = 0
    exposure_samples: int = 0
    exposed_samples: int = 0
    equity: list[tuple[int, Decimal]] = field(default_factory=list)  # (unix s, mark-to-market USD)
    first_time: int = 0
    last_time: int = 0


class Driver:
    def __init__(self, parts: Parts, venue: InProcessExchange, clock: VirtualClock, tables: dict[str, SignalTable],
                 alerter: InProcessEntryAlerter, settings: Settings, *, shortcuts: bool = True) -> None:
        """`shortcuts=False` plays every point and runs every sweep: the reference the shortcuts are tested
        against (the same report, byte for byte)."""
        self.parts = parts
        self.venue = venue
        self.clock = clock
        self.tables = tables
        self.alerter = alerter
        self.settings = settings
        self.hodl = frozenset(a.upper() for a in settings.hodl_assets)
        self.candle_history = settings.candle_history
        self.stats = RunStats()
        self._dedupe = UpdateDeduper(capacity=1_000_000)
        self._last_price: dict[str, Decimal] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_flush = 0
        self._cycles = 0
        self._sample_every = 1
        self._shortcuts = shortcuts
        # True once a sweep ran with no open position: the sentinel has then forgotten every symbol
        # (its cleanup), so further sweeps while nothing is held have nothing to do.
        self._swept_flat = False
        self._deferred: dict[str, int] = {}  # product → time of its close not yet in the cache
        # product → the sentinel's quiet band, kept until something that may change it happens: an evaluation
        # of the product (a played point outside its band), any fill or task (settle), a cycle (signals, sweep),
        # a desk poll. Nothing else changes what it is made of (position, trailing stop, signal row, exits).
        self._bands: dict[str, QuietBand | None] = {}
        # product → its latest quiet point (price, bid, ask, unix s) not yet in the cache: only the last one
        # of a run is observable, so it lands before anything reads the cache or the clock moves (_land).
        self._quiet_quotes: dict[str, tuple[Decimal, Decimal | None, Decimal | None, int]] = {}
        # product → the candles whose row decides BUY (usable rows only): a cycle looks each closed candle up here.
        self._buy_rows = {pid: t.buy_rows() for pid, t in tables.items()}

    async def run(self, timeline: Timeline, progress: Progress | None = None) -> RunStats:
        loop = asyncio.get_running_loop()
        previous_factory = loop.get_task_factory()
        loop.set_task_factory(self._track)
        try:
            return await self._run(timeline, progress)
        finally:
            loop.set_task_factory(previous_factory)

    def _track(self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        """Every task the daemon's parts start is ours to wait for before time moves on."""
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, timeline: Timeline, progress: Progress | None) -> RunStats:
        n = len(timeline)
        times, kinds, owners, refs = (timeline.time.tolist(), timeline.kind.tolist(), timeline.product.tolist(),
                                      timeline.ref.tolist())
        closes = timeline.closes.tolist()
        products, prices = timeline.products, timeline.prices
        stats = self.stats
        stats.events = n
        stats.first_time = times[0] if n else 0
        cycle_times = len(set(timeline.time[timeline.kind == CYCLE].tolist()))
        self._sample_every = max(1, cycle_times // EQUITY_SAMPLES)
        cache, clock, venue, book = self.parts.cache, self.clock, self.venue, self.parts.positions
        closed: list[tuple[str, int]] = []
        now_s = -1
        clock_s = -1  # the clock is passive (nothing reads it between events), so it moves only when needed
        held_list: object = None
        held: set[str] = set()
        shortcuts = self._shortcuts
        desk = self.parts.desk
        next_poll = 0.0  # the desk's next poll (unix s): its loop steps every WORKING_POLL_INTERVAL_S
        # The red-day rule reads the venue's 24 h change, whose open is the first point of a minute:
        # while it can refuse entries, every point of every candle trades on the venue.
        skip_inner = shortcuts and self.settings.allow_buys_on_red_day
        deferred = self._deferred
        for t, kind, k, ref, is_close in zip(times, kinds, owners, refs, closes, strict=True):
            if t != now_s:
                if closed:
                    self._land()
                    if clock_s != now_s:
                        clock.set_unix(now_s)
                        clock_s = now_s
                    await self._cycle(closed, now_s)
                    closed = []
                now_s = t
            pid = products[k]
            if kind == CYCLE:
                if clock_s != t:
                    self._land()
                    clock.set_unix(t)
                    clock_s = t
                closed.append((pid, ref))
                stats.cycles += 1
                if progress is not None:
                    progress(1, clock.now())
                continue
            positions = book.open_positions()
            if positions is not held_list:
                held_list, held = positions, {p.symbol for p in positions}
            if held:
                self._swept_flat = False
            if skip_inner and not is_close and pid not in held and not venue.has_working_orders(pid):
                # Nothing of this product can react to an inner point: no position for the sentinel to
                # guard and no order resting on the book. Its close still trades (entries price off it).
                stats.skipped_points += 1
                if t >= next_poll and desk.has_working():  # the desk's polls fall at the same instants either way
                    next_poll, clock_s = await self._poll(t), t
                continue
            price = prices[k][ref]
            self._last_price[pid] = price
            if skip_inner and pid not in held and not venue.any_working():
                # A flat product's close with no order anywhere: nothing reads its market (its 24 h
                # figures only feed the red-day rule, off here) until something asks the venue about it.
                deferred[pid] = t
                venue.defer(pid, price, clock.reading_at(t)[0])
            elif (skip_inner and pid in held and not self._tasks and not venue.pending() and not venue.any_working()
                  and self._quiet(pid, price, *venue.top_after_move(pid, price), t)):
                # A held product's quiet point with no order anywhere: the cache has it (the sentinel would
                # have done nothing with it) and the venue trades it when something next reads it there.
                deferred.pop(pid, None)
                venue.defer(pid, price, clock.reading_at(t)[0])
            else:
                self._land()
                if clock_s != t:
                    clock.set_unix(t)
                    clock_s = t
                # Its band stands: a move changes nothing the band is made of; what may (a fill or task, the
                # sentinel's evaluation) drops it below, in _settle or after the cache update.
                venue.move(pid, price)
                if venue.pending() or self._tasks:
                    await self._settle()
                if shortcuts and not venue.has_working_orders(pid) and all(
                        p.symbol != pid for p in book.open_positions()):  # as it stands after this point's fills
                    # A flat product's close: the sentinel ignores it and nothing else reads its quote until
                    # an entry (or the desk) runs, so the cache gets it then, with this point's times.
                    deferred[pid] = t
                else:
                    deferred.pop(pid, None)
                    bid, ask = venue.top_of_book(pid)
                    if not (shortcuts and pid in held and self._quiet(pid, price, bid, ask, t)):
                        now = clock.now()
                        cache.update(pid, price, received_mono=clock.monotonic(), received_at=now, best_bid=bid,
                                     best_ask=ask, exchange_time=now)
                        self._bands.pop(pid, None)  # the sentinel evaluated it
                    if venue.pending() or self._tasks:
                        await self._settle()
            if t >= next_poll and desk.has_working():  # at the same instants whether or not the point was deferred
                next_poll, clock_s = await self._poll(t), t
        self._land()
        if now_s >= 0 and clock_s != now_s:
            clock.set_unix(now_s)
        if closed:
            await self._cycle(closed, now_s)
        await self._settle()
        self._flush_quotes()
        venue.catch_up()
        await self.parts.writer.flush()
        stats.last_time = now_s
        self._sample(now_s)
        return stats

    async def _poll(self, t: int) -> float:
        """The desk loop's step at `t` (re-price, TTL, escalation, fills seen), then settle; the next poll time."""
        self._land()
        self.clock.set_unix(t)
        self._bands.clear()
        self._flush_quotes()  # the desk reads the market: deferred closes arrive first
        await self.parts.desk.step_all()
        await self._settle()
        return t + self.settings.working_poll_interval_s

    def _flush_quotes(self) -> None:
        """Put the deferred closes in the cache as they would have arrived (their listeners ignore a
        product without a position; the venue has not moved it since, so its top of book is the same:
        reading it applies the venue's own deferred move first, at its time)."""
        self._land()
        for pid, t in self._deferred.items():
            when, mono = self.clock.reading_at(t)
            bid, ask = self.venue.top_of_book(pid)
            self.parts.cache.update(pid, self._last_price[pid], received_mono=mono, received_at=when, best_bid=bid,
                                    best_ask=ask, exchange_time=when)
        self._deferred.clear()

    def _quiet(self, pid: str, price: Decimal, bid: Decimal | None, ask: Decimal | None, t: int) -> bool:
        """Whether the sentinel would decide and change nothing at this point of held `pid` (its quiet band,
        market_data/quiet_band.py); if so the point's quote goes into the cache without waking it."""
        if pid in self._bands:
            band = self._bands[pid]
        else:
            band = self._bands[pid] = self.parts.monitor.quiet_band(pid)
        if band is None or not band.holds(bid if bid is not None and bid > 0 else price):
            return False
        self.stats.quiet_points += 1
        self._quiet_quotes[pid] = (price, bid, ask, t)
        return True

    def _land(self) -> None:
        """The pending quiet points into the cache and the sentinel's memo, as if each had gone there in
        turn (only a product's last one remains visible). Called before anything reads them — the daemon's
        code runs only from the driver's settle, cycle, poll and played points — and before the clock moves
        (the memo keeps the signal the sentinel sees at the clock's current reading)."""
        if not self._quiet_quotes:
            return
        cache, monitor = self.parts.cache, self.parts.monitor
        for pid, (price, bid, ask, t) in self._quiet_quotes.items():
            when, mono = self.clock.reading_at(t)
            quote = cache.update(pid, price, received_mono=mono, received_at=when, best_bid=bid, best_ask=ask,
                                 exchange_time=when, notify=False)
            if quote is not None:
                monitor.on_quiet_quote(quote)
        self._quiet_quotes.clear()

    async def _settle(self) -> None:
        """Record every order the venue touched and wait for every task the daemon started."""
        self._land()
        while True:
            for order_id in self.venue.collect():
                self._bands.clear()  # an order's news may change a position or its exit
                order = self.venue.engine.orders[order_id]
                if self._dedupe.is_news(OrderPrompt(order_id, order.status, order.filled_size)):
                    await self.parts.fills.process_order(order_id)
                    self.stats.orders_processed += 1
                    self._swept_flat = False  # a fill may have opened (and closed) a position
            pending = [t for t in self._tasks if not t.done()]
            if not pending:
                if self.venue.pending():
                    continue
                return
            self._bands.clear()  # what the daemon's tasks do (exits, bookkeeping) may too
            await asyncio.wait(pending)
            self._bands.clear()

    async def _cycle(self, closed: list[tuple[str, int]], now_s: int) -> None:
        """A sighook cycle for the candles that closed now, then the sentinel's sweep."""
        self._land()
        now = self.clock.now()
        self._cycles += 1
        self._bands.clear()
        held = bool(self.parts.positions.open_positions())
        self.stats.exposure_samples += 1
        self.stats.exposed_samples += int(held)
        if self._cycles % self._sample_every == 0:
            self._sample(now_s)
        rows: dict[str, MatrixRow] = {}
        signals, buy_rows = self.parts.signals, self._buy_rows
        for pid, i in closed:
            signals.closed(pid, i, now)
            if i in buy_rows[pid]:  # table.decision(i) is Decision.BUY
                rows[pid] = self.tables[pid].row(i, pid.split("-", 1)[0] in self.hodl, self.candle_history)
        if rows:
            self._flush_quotes()
            self.stats.buy_rows += len(rows)
            granularity = _granularity_name(self.tables[closed[0][0]].series.granularity_s)
            matrix = BuySellMatrix(computed_at=now, granularity=granularity,
                                   buy_threshold=self.settings.buy_score_threshold,
                                   sell_threshold=self.settings.sell_score_threshold,
                                   weights=dict(DEFAULT_WEIGHTS), rows=rows, skipped={})
            step = self.tables[closed[0][0]].series.granularity_s
            # sighook's own bound (SighookLoop.max_signal_age_s).
            report = await self.alerter.run(matrix, market_now=now, max_signal_age_s=max(
                2.0 * step, 2.0 * self.settings.sighook_interval_s))
            self.stats.entries_sent += report.sent
            for why in report.skipped.values():
                self.stats.entries_skipped[why] = self.stats.entries_skipped.get(why, 0) + 1
        await self._sweep()
        if self.parts.writer.pending and now_s - self._last_flush >= TRAILING_FLUSH_S:
            await self.parts.writer.flush()
            self._last_flush = now_s

    async def _sweep(self) -> None:
        """The sentinel's safety-net sweep, one position at a time.

        Each open position the sweep would evaluate is evaluated on its cached quote exactly as the sweep
        does (on_quote takes the same path), settling in between: a real sweep may submit several exits at once, and
        their interleaving would then depend on database timing, not on the data. The sweep itself
        then runs for its housekeeping (closed positions, memo) and finds nothing new to decide.
        """
        monitor, cache = self.parts.monitor, self.parts.cache
        held = sorted({p.symbol for p in self.parts.positions.open_positions()})
        if not held and self._shortcuts and self._swept_flat and not self.venue.pending() and not self._tasks:
            return  # nothing held since the last sweep that found nothing held: it would find nothing again
        venue = self.venue
        if len(held) > 1:  # one position cannot race itself: then the sweep alone is enough
            for symbol in held:
                quote = cache.get(symbol)
                if quote is not None and monitor.sweep_evaluates(symbol):
                    monitor.on_quote(quote)
                    if venue.pending() or self._tasks:  # else _settle has nothing to do (no quiet point waits)
                        await self._settle()
        monitor.sweep()
        self._swept_flat = not held
        if venue.pending() or self._tasks:
            await self._settle()

    def _sample(self, t: int) -> None:
        """Mark-to-market equity: cash plus every holding at its last traded price."""
        engine = self.venue.engine
        equity = ZERO
        for currency, (available, hold) in engine.balances().items():
            amount = available + hold
            if currency in ("USD", "USDC"):
                equity += amount
            elif amount > 0:
                pid = f"{currency}-USD"
                price = self._last_price.get(pid)
                if price is not None:
                    equity += amount * price
        self.stats.equity.append((t, equity))


def _granularity_name(seconds: int) -> str:
    for name in ("ONE_MINUTE", "FIVE_MINUTE", "FIFTEEN_MINUTE", "THIRTY_MINUTE", "ONE_HOUR", "TWO_HOUR",
                 "SIX_HOUR", "ONE_DAY"):
        if granularity_seconds(name) == seconds:
            return name
    return f"{seconds}s"


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
