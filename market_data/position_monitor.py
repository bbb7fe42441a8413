"""The exit sentinel: evaluates a position on every ticker update of its symbol and sweeps all
positions every `sentinel_sweep_interval_s` as a safety net.

Per evaluation: refuse stale quotes (log, STALE_QUOTES, notify), skip HODL assets (log each skipped
exit, notify on a large loss), advance the trailing stop (persisted through the background writer,
never awaited here), ask `decide_exit`, and hand a decision to the executor — at most one live exit
per position, with an attempt limit. Evaluation is synchronous and does no I/O; only the executor
call, notifications and protective-stop moves run as background tasks. A sweep skips positions whose
inputs (quote, signal, entry, size) have not changed since their last evaluation, except for the
staleness check, so its cost stays flat however many positions sit still.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.clock import Clock, SystemClock
from core.enums import ExitReason
from core.logging import get_logger
from core.metrics import EXITS, EXITS_SKIPPED, SENTINEL_SWEEP_SECONDS, STALE_QUOTES
from core.money import fmt, pct_change
from core.settings import Settings
from market_data.exit_policy import ExitDecision, decide_exit
from market_data.exit_tracker import ExitTracker, Gate
from market_data.market_cache import CachedQuote, MarketCache
from market_data.ports import (
    ExitExecutor,
    ExitSubmission,
    Notifier,
    OpenPosition,
    PositionSource,
    SignalSource,
    SignalView,
    base_asset,
)
from market_data.protective_stop import ProtectiveOrder, ProtectiveStopManager
from market_data.quiet_points import Memo, QuietPoints
from market_data.stop_events import ExitEventKind, TrailingEventKind
from market_data.stop_history import StopHistory
from market_data.trailing_book import TrailingBook
from market_data.trailing_stop import TrailingParams, TrailingStop
from market_data.trailing_store import TrailingWriter

log = get_logger(__name__)

EXIT_SUBMIT_TIMEOUT_S = 60.0  # bound on one executor call (its own REST calls have shorter timeouts)
NOTIFY_TIMEOUT_S = 15.0
LOG_REPEAT_S = 60.0  # a condition that persists is logged again at most this often per symbol
DRAIN_TIMEOUT_S = 30.0

class PositionMonitor(QuietPoints):
    def __init__(self, settings: Settings, cache: MarketCache, positions: PositionSource, signals: SignalSource,
                 executor: ExitExecutor, notifier: Notifier, *, clock: Clock | None = None,
                 writer: TrailingWriter | None = None, trailing: Mapping[str, TrailingStop] | None = None,
                 protective: ProtectiveStopManager | None = None) -> None:
        self._settings = settings
        self._cache = cache
        self._positions = positions
        self._signals = signals
        self._executor = executor
        self._notifier = notifier
        self._clock = clock or SystemClock()
        self._protective = protective if settings.protective_stop_enabled else None
        self._params = TrailingParams.from_settings(settings)
        self._hodl = frozenset(a.upper() for a in settings.hodl_assets)
        self._exits = ExitTracker(settings.exit_max_attempts)
        self._history = StopHistory(writer, self._clock)
        self._trailing = TrailingBook(self._params, writer, self._history)
        self._protective_ids: set[str] = set()  # our exchange stops (placed or adopted), until they end
        self._memo: dict[str, Memo] = {}
        self._seen: set[str] = set()  # positions seen open in this run (only those are cleaned up)
        self._no_quote_since: dict[str, float] = {}
        self._last_said: dict[tuple[str, str], float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._protect_tasks: dict[str, asyncio.Task[Any]] = {}
        self._attached = False
        self._quiet_basis: dict[str, tuple[Decimal, Decimal]] = {}  # symbol → (entry, size) of its last quiet band
        self.sweeps = 0
        if self._protective is not None:
            self._protective.set_listener(self.on_protective_change)
            self._protective.set_event_listener(self.on_protective_event)
        for stop in (trailing or {}).values():
            self._trailing.put(stop, persist=False)
            if self._protective is not None and stop.stop_order_id and stop.stop_order_price is not None:
                self._protective_ids.add(stop.stop_order_id)
                # Size unknown until the first sync, which then re-places it once with the right size.
                self._protective.adopt(stop.symbol, ProtectiveOrder(
                    order_id=stop.stop_order_id, client_order_id="", stop_price=stop.stop_order_price,
                    limit_price=stop.stop_order_price, size=Decimal(0),
                    placed_at=stop.stop_order_moved_at or stop.last_update_time))

    # ---- wiring -------------------------------------------------------------------------------
    def attach(self) -> None:
        """Evaluate on every quote the cache receives."""
        if not self._attached:
            self._cache.add_listener(self.on_quote)
            self._attached = True

    def restore_trailing(self, stops: Mapping[str, TrailingStop]) -> None:
        """A standby that becomes the leader: the stops are what the database holds now (issue #24)."""
        self._trailing.restore(stops)
        self._memo.clear()

    def trailing_stop(self, symbol: str) -> TrailingStop | None:
        return self._trailing.get(symbol)

    def trailing_stops(self) -> list[TrailingStop]:
        return self._trailing.all()

    def exit_finished(self, symbol: str, *, filled: bool, order_id: str | None = None) -> None:
        """The execution core reports that a sell of `symbol` (maybe the live exit) reached a final state."""
        if order_id is not None and order_id in self._protective_ids:
            # Our exchange stop ended: cancelled by a move or an exit (not an exit attempt), or it fired.
            self._protective_ids.discard(order_id)
            if filled:
                self._history.exit_finished(symbol, filled=True, order_id=order_id, detail="exchange stop filled")
            self._protective_lost(symbol, order_id, filled=filled)
            return
        entry = self._exits.get(symbol)
        if entry is not None and (order_id is None or entry.live_order_id in (None, order_id)):
            self._history.exit_finished(symbol, filled=filled, order_id=order_id)
        self._exits.finished(symbol, filled=filled)
        self._memo.pop(symbol, None)

    def _protective_lost(self, symbol: str, order_id: str, *, filled: bool) -> None:
        """Our tracked exchange stop ended without us cancelling it (someone else did, or it fired):
        stop tracking it, say so in the history, and let the next evaluation place a new one."""
        if self._protective is None or symbol in self._exits:
            return
        tracked = self._protective.order(symbol)
        if tracked is None or tracked.order_id != order_id:
            return  # we cancelled it ourselves (a move or an exit): nothing was lost
        stop = self._trailing.get(symbol)
        why = "filled on the exchange" if filled else "cancelled outside the daemon"
        log.warning("protective_stop_lost", symbol=symbol, order_id=order_id, why=why)
        self._protective.lost(symbol, order_id)  # the row loses its order id in the same batch as the event
        if stop is not None:
            self._history.exchange(stop, TrailingEventKind.EXCHANGE_STOP_FAILED, order_id=order_id,
                                   stop_before=tracked.stop_price, stop_after=None,
                                   detail=f"exchange stop {why}; placing it again" if not filled else why)
        self._memo.pop(symbol, None)

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep every `sentinel_sweep_interval_s` until `stop`, then wait for background tasks."""
        self.attach()
        interval = self._settings.sentinel_sweep_interval_s
        orphan_every = max(1, int(self._settings.reconcile_interval_s / interval))
        log.info("sentinel_started", positions=len(self._positions.open_positions()), interval_s=interval)
        while not stop.is_set():
            try:
                self.sweep()
            except Exception:
                log.exception("sentinel_sweep_failed")
            # Not on the first sweep: a position source still loading would make every stop look orphaned.
            if self._protective is not None and self.sweeps >= 2 and (self.sweeps - 2) % orphan_every == 0:
                self._spawn(self._sweep_orphans())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
        await self.drain()
        log.info("sentinel_stopped", sweeps=self.sweeps)

    async def drain(self) -> None:
        """Wait (bounded) for submissions, notifications and stop moves in flight."""
        pending = list(self._tasks)
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_TIMEOUT_S)

    # ---- the two entry points -----------------------------------------------------------------
    def on_quote(self, quote: CachedQuote) -> None:
        """Market-cache listener: evaluate the position of the symbol that just ticked."""
        for position in self._positions.open_positions():
            if position.symbol == quote.symbol:
                self._seen.add(position.symbol)
                self._evaluate_guarded(position, quote, self._clock.now(), self._clock.monotonic())
                return

    def sweep(self) -> int:
        """One pass over all open positions; returns how many were evaluated in full. No I/O."""
        started = time.perf_counter()
        now, now_mono = self._clock.now(), self._clock.monotonic()
        max_age = self._settings.quote_max_age_s
        open_symbols: set[str] = set()
        evaluated = 0
        for position in self._positions.open_positions():
            symbol = position.symbol
            open_symbols.add(symbol)
            quote = self._cache.get(symbol)
            if self._evaluated_already(position, quote, now_mono, max_age):
                continue
            evaluated += 1
            self._evaluate_guarded(position, quote, now, now_mono)
        self._seen |= open_symbols
        self._cleanup(open_symbols)
        self.sweeps += 1
        SENTINEL_SWEEP_SECONDS.observe(time.perf_counter() - started)
        return evaluated

    # ---- evaluation ---------------------------------------------------------------------------
    def _evaluate_guarded(self, position: OpenPosition, quote: CachedQuote | None, now: datetime,
                          now_mono: float) -> None:
        try:
            self._evaluate(position, quote, now, now_mono)
        except Exception:  # one bad position must not stop the sentinel
            self._memo.pop(position.symbol, None)
            log.exception("sentinel_evaluation_failed", symbol=position.symbol)

    def _evaluate(self, position: OpenPosition, quote: CachedQuote | None, now: datetime, now_mono: float) -> None:
        symbol = position.symbol
        if quote is None:
            # No quote at all counts as stale once the position has waited longer than the limit for one.
            first = self._no_quote_since.setdefault(symbol, now_mono)
            self._refuse_stale(symbol, now_mono - first, now_mono, "no quote received")
            return
        self._no_quote_since.pop(symbol, None)
        age = now_mono - quote.received_mono
        if age > self._settings.quote_max_age_s:
            self._memo.pop(symbol, None)
            self._refuse_stale(symbol, age, now_mono, f"quote is {age:.1f}s old")
            return
        if position.size <= 0:
            return
        price = quote.sell_price
        signal = self._signals.signal(symbol)
        if self._hodl and base_asset(symbol) in self._hodl:
            self._skip_hodl(position, price, signal, now, now_mono)
        else:
            trailing = self._trailing.update(position, price, signal.atr if signal else None, now)
            if self._protective is not None and trailing.is_active and trailing.current_stop is not None:
                self._maybe_protect(position, trailing.current_stop, now)
            decision = decide_exit(position, price, signal, trailing, self._settings, now=now)
            if decision is not None:
                self._maybe_submit(position, decision, now_mono)
        if symbol not in self._exits:
            self._memo[symbol] = (quote, signal, position.avg_entry_price, position.size)

    def _refuse_stale(self, symbol: str, age: float, now_mono: float, what: str) -> None:
        if age <= self._settings.quote_max_age_s:
            return  # still waiting for the first quote
        STALE_QUOTES.inc()
        if self._say("stale", symbol, now_mono):
            log.warning("sentinel_stale_quote", symbol=symbol, age_s=round(age, 3), what=what,
                        max_age_s=self._settings.quote_max_age_s)
        if self._say("stale_notify", symbol, now_mono, self._settings.notify_min_interval_s):
            self._notify("stale_quote", f"{symbol}: {what}; its exits are paused until fresh data arrives")

    def _skip_hodl(self, position: OpenPosition, price: Decimal, signal: SignalView | None, now: datetime,
                   now_mono: float) -> None:
        symbol = position.symbol
        decision = decide_exit(position, price, signal, None, self._settings, now=now)
        if decision is not None and self._say(f"hodl:{decision.reason}", symbol, now_mono):
            EXITS_SKIPPED.labels(cause="hodl").inc()
            log.info("exit_skipped_hodl", symbol=symbol, reason=decision.reason.value, quote=fmt(price),
                     pnl_pct=f"{decision.pnl_pct:.2f}", why=decision.why)
        pnl = pct_change(price, position.avg_entry_price)
        if pnl <= self._settings.hodl_large_loss_alert_pct and self._say("hodl_loss", symbol, now_mono,
                                                                          self._settings.notify_min_interval_s):
            log.warning("hodl_large_loss", symbol=symbol, pnl_pct=f"{pnl:.2f}")
            self._notify("hodl_large_loss", f"{symbol} (HODL, never sold by the sentinel) is at {pnl:.2f}%")

    # ---- exits --------------------------------------------------------------------------------
    def _maybe_submit(self, position: OpenPosition, decision: ExitDecision, now_mono: float) -> None:
        symbol = position.symbol
        gate = self._exits.gate(symbol, decision.reason, now_mono)
        if gate is Gate.IN_FLIGHT:
            EXITS_SKIPPED.labels(cause="in_flight").inc()
            return
        if gate is Gate.ATTEMPTS:
            EXITS_SKIPPED.labels(cause="attempts").inc()
            if self._exits.give_up_once(symbol):
                log.error("exit_attempts_exhausted", symbol=symbol, reason=decision.reason.value,
                          attempts=self._exits.max_attempts)
                self._notify("exit_failed", f"{symbol}: {decision.reason.value} exit failed "
                             f"{self._exits.max_attempts} times; the position is NOT protected")
            return
        if gate is Gate.BACKOFF:
            return
        live = self._exits.get(symbol)
        replacing = None
        if live is not None and live.live_order_id is not None:
            escalated = decision.reason is ExitReason.HARD_STOP and live.live_reason is not ExitReason.HARD_STOP
            replacing = ExitEventKind.ESCALATED if escalated else ExitEventKind.REPRICED
        attempt = self._exits.started(symbol, decision.reason)
        log.info("exit_decided", symbol=symbol, reason=decision.reason.value, kind=decision.order_kind.value,
                 target=fmt(decision.target_price), quote=fmt(decision.quote_price), attempt=attempt, why=decision.why)
        self._history.exit_decided(symbol, decision, position.size, attempt, replacing)
        self._spawn(self._submit(position, decision, attempt))

    async def _submit(self, position: OpenPosition, decision: ExitDecision, attempt: int = 1) -> None:
        symbol = position.symbol
        try:
            async with asyncio.timeout(EXIT_SUBMIT_TIMEOUT_S):
                if self._protective is not None:
                    # Our exchange stop holds the base balance the exit is sized from: cancel it first
                    # (the executor only cancels sells recorded in trade_records).
                    await self._protective.remove(symbol, f"{decision.reason.value} exit decided")
                result = await self._executor.submit_exit(position, decision)
        except Exception as exc:
            result = ExitSubmission(ok=False, error=repr(exc))
        now_mono = self._clock.monotonic()
        if result.ok:
            self._exits.succeeded(symbol, result.order_id, now_mono)
            EXITS.labels(reason=decision.reason.value).inc()
            log.info("exit_submitted", symbol=symbol, reason=decision.reason.value, order_id=result.order_id)
            self._history.exit_sent(symbol, decision, attempt, result.order_id)
            return
        self._history.exit_failed(symbol, decision.reason.value, attempt, result.error or "submission failed")
        exhausted = self._exits.failed(symbol, now_mono)
        log.warning("exit_submit_failed", symbol=symbol, reason=decision.reason.value, error=result.error)
        if exhausted and self._exits.give_up_once(symbol):
            self._notify("exit_failed", f"{symbol}: {decision.reason.value} exit failed "
                         f"{self._exits.max_attempts} times ({result.error}); the position is NOT protected")

    # ---- protective stop ----------------------------------------------------------------------
    def _maybe_protect(self, position: OpenPosition, stop_price: Decimal, now: datetime) -> None:
        assert self._protective is not None
        symbol = position.symbol
        running = self._protect_tasks.get(symbol)
        if (running is not None and not running.done()) or symbol in self._exits:
            return
        if not self._protective.needs_move(symbol, stop_price, position.size, now).move:
            return
        self._protect_tasks[symbol] = self._spawn(self._protective.sync(symbol, position.size, stop_price))

    def on_protective_event(self, symbol: str, kind: TrailingEventKind, order_id: str | None,
                            stop_before: Decimal | None, stop_after: Decimal | None, detail: str | None) -> None:
        """ProtectiveStopManager's event hook: history of the exchange-side stop (after on_change)."""
        current = self._trailing.get(symbol)
        if current is not None:
            self._history.exchange(current, kind, order_id=order_id, stop_before=stop_before, stop_after=stop_after,
                                   detail=detail)

    def on_protective_change(self, symbol: str, order: ProtectiveOrder | None) -> None:
        """ProtectiveStopManager's on_change hook: keep the trailing row's stop-order fields in step."""
        if order is not None:
            self._protective_ids.add(order.order_id)
        current = self._trailing.get(symbol)
        if current is None:
            return
        self._trailing.put(replace(
            current, stop_order_id=order.order_id if order else None,
            stop_order_price=order.stop_price if order else None,
            stop_order_moved_at=order.placed_at if order else current.stop_order_moved_at))

    async def _sweep_orphans(self) -> None:
        assert self._protective is not None
        try:
            await self._protective.sweep_orphans([p.symbol for p in self._positions.open_positions()])
        except Exception as exc:
            log.warning("protective_orphan_sweep_failed", error=repr(exc))

    # ---- housekeeping -------------------------------------------------------------------------
    def _cleanup(self, open_symbols: set[str]) -> None:
        for symbol in [s for s in self._seen if s not in open_symbols]:
            self._seen.discard(symbol)
            self._memo.pop(symbol, None)
            self._no_quote_since.pop(symbol, None)
            self._exits.forget(symbol)
            self._history.forget(symbol)
            self._trailing.closed(symbol)
            if self._protective is not None and self._protective.order(symbol) is not None:
                self._spawn(self._protective.remove(symbol, "position closed"))

    def _say(self, kind: str, symbol: str, now_mono: float, every_s: float = LOG_REPEAT_S) -> bool:
        """Throttle repeated logs/notifications of one condition per symbol."""
        key = (kind, symbol)
        last = self._last_said.get(key)
        if last is not None and now_mono - last < every_s:
            return False
        self._last_said[key] = now_mono
        return True

    def _notify(self, topic: str, message: str) -> None:
        self._spawn(self._send(topic, message))

    async def _send(self, topic: str, message: str) -> None:
        try:
            async with asyncio.timeout(NOTIFY_TIMEOUT_S):
                await self._notifier.notify(topic, message)
        except Exception as exc:
            log.warning("notify_failed", topic=topic, error=repr(exc))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
