"""The replay loop: walk the timeline in virtual time and call what the daemon's loops would call.

Per price point (a trade on the tape): move the venue's market (resting orders and stops work
against it), let the fill processor record any order that changed (what a user-channel update
prompts live), then update the market cache — whose listener is the exit sentinel, evaluating the
symbol's position on the tick exactly as it does live — and wait until everything that started
(exit submissions, fills, breaker bookkeeping) has finished before time moves on.

Per candle close (a sighook cycle): the product's matrix row becomes current for the sentinel's
signal exits, buy rows go through sighook's entry planner to webhook's alert path, the sentinel's
safety-net sweep runs once, and the trailing-stop writer flushes (live it coalesces too).

Nothing here decides anything: all decisions are the daemon's own code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from core.money import ZERO
from core.settings import Settings
from exchange.models import granularity_seconds
from replay.assembly import Parts
from replay.clock import VirtualClock
from replay.entries import InProcessEntryAlerter
from replay.path import CYCLE, Timeline
from replay.signals import SignalTable
from replay.venue import InProcessExchange
from sighook.matrix import BuySellMatrix, MatrixRow
from sighook.rules import DEFAULT_WEIGHTS, Decision
from webhook.order_updates import OrderPrompt, UpdateDeduper

EQUITY_SAMPLES = 1500

Progress = Callable[[int, datetime], None]


@dataclass
class RunStats:
    events: int = 0
    cycles: int = 0
    buy_rows: int = 0
    entries_sent: int = 0
    entries_skipped: dict[str, int] = field(default_factory=dict)
    dust_blocked: int = 0
    orders_processed: int = 0
    exposure_samples: int = 0
    exposed_samples: int = 0
    equity: list[tuple[int, Decimal]] = field(default_factory=list)  # (unix s, mark-to-market USD)
    first_time: int = 0
    last_time: int = 0


class Driver:
    def __init__(self, parts: Parts, venue: InProcessExchange, clock: VirtualClock, tables: dict[str, SignalTable],
                 alerter: InProcessEntryAlerter, settings: Settings) -> None:
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

    async def run(self, timeline: Timeline, progress: Progress | None = None) -> RunStats:
        n = len(timeline)
        times, kinds, owners, refs = (timeline.time.tolist(), timeline.kind.tolist(), timeline.product.tolist(),
                                      timeline.ref.tolist())
        products, prices = timeline.products, timeline.prices
        stats = self.stats
        stats.events = n
        stats.first_time = times[0] if n else 0
        sample_every = max(1, n // EQUITY_SAMPLES)
        cache, clock, venue = self.parts.cache, self.clock, self.venue
        current = asyncio.current_task()
        closed: list[tuple[str, int]] = []
        now_s = -1
        for j in range(n):
            t = times[j]
            if t != now_s:
                if closed:
                    await self._cycle(closed)
                    closed = []
                clock.set_unix(t)
                now_s = t
            k = owners[j]
            pid = products[k]
            if kinds[j] == CYCLE:
                closed.append((pid, refs[j]))
                stats.cycles += 1
                if progress is not None:
                    progress(1, clock.now())
                continue
            price = prices[k][refs[j]]
            self._last_price[pid] = price
            venue.move(pid, price)
            await self._settle(current)
            bid, ask = venue.top_of_book(pid)
            now = clock.now()
            cache.update(pid, price, received_mono=clock.monotonic(), received_at=now, best_bid=bid, best_ask=ask,
                         exchange_time=now)
            await self._settle(current)
            if j % sample_every == 0:
                self._sample(t)
        if closed:
            await self._cycle(closed)
        await self._settle(current)
        await self.parts.writer.flush()
        stats.last_time = now_s
        self._sample(now_s)
        return stats

    async def _settle(self, current: asyncio.Task[object] | None) -> None:
        """Record every order the venue touched and wait for every task the daemon started."""
        while True:
            for order_id in self.venue.collect():
                order = self.venue.engine.orders[order_id]
                if self._dedupe.is_news(OrderPrompt(order_id, order.status, order.filled_size)):
                    await self.parts.fills.process_order(order_id)
                    self.stats.orders_processed += 1
            pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
            if not pending:
                if self.venue.pending():
                    continue
                return
            await asyncio.wait(pending)

    async def _cycle(self, closed: list[tuple[str, int]]) -> None:
        """A sighook cycle for the candles that closed now, then the sentinel's sweep."""
        now = self.clock.now()
        rows: dict[str, MatrixRow] = {}
        for pid, i in closed:
            table = self.tables[pid]
            self.parts.signals.closed(pid, i, now)
            if table.usable[i] and table.decision(i) is Decision.BUY:
                rows[pid] = table.row(i, pid.split("-", 1)[0] in self.hodl, self.candle_history)
        if rows:
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
        if self.parts.writer.pending:
            await self.parts.writer.flush()

    async def _sweep(self) -> None:
        """The sentinel's safety-net sweep, one position at a time.

        Each open position is evaluated on its cached quote exactly as a sweep does (on_quote takes
        the same path), settling in between: a real sweep may submit several exits at once, and
        their interleaving would then depend on database timing, not on the data. The sweep itself
        then runs for its housekeeping (closed positions, memo) and finds nothing new to decide.
        """
        current = asyncio.current_task()
        monitor, cache = self.parts.monitor, self.parts.cache
        for symbol in sorted({p.symbol for p in self.parts.positions.open_positions()}):
            quote = cache.get(symbol)
            if quote is not None:
                monitor.on_quote(quote)
                await self._settle(current)
        monitor.sweep()
        await self._settle(current)

    def _sample(self, t: int) -> None:
        """Mark-to-market equity and whether anything is held (exposure)."""
        engine = self.venue.engine
        equity = ZERO
        held = bool(self.parts.positions.open_positions())
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
        self.stats.exposure_samples += 1
        self.stats.exposed_samples += int(held)


def _granularity_name(seconds: int) -> str:
    for name in ("ONE_MINUTE", "FIVE_MINUTE", "FIFTEEN_MINUTE", "THIRTY_MINUTE", "ONE_HOUR", "TWO_HOUR",
                 "SIX_HOUR", "ONE_DAY"):
        if granularity_seconds(name) == seconds:
            return name
    return f"{seconds}s"


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
