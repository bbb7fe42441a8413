"""The sentinel's recorder of trailing-stop and exit events.

Every call is synchronous and is made right beside the state change it describes (the monitor
queues that state on the same writer in the same call chain), so the writer's next batch carries
both and commits them in one transaction. Without a writer (unit rigs) events are dropped.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from core.clock import Clock
from core.metrics import EXIT_LATENCY
from market_data.exit_policy import ExitDecision
from market_data.stop_events import (
    ExitEvent,
    ExitEventKind,
    TrailingEvent,
    TrailingEventKind,
    trailing_event,
    trailing_events_for_step,
)
from market_data.trailing_stop import TrailingStep, TrailingStop
from market_data.trailing_store import TrailingWriter, final_state


class StopHistory:
    def __init__(self, writer: TrailingWriter | None, clock: Clock) -> None:
        self._writer = writer
        self._clock = clock
        self._decided_mono: dict[str, float] = {}  # first decision of the live exit (tick-to-fill latency)
        self._last_reason: dict[str, str] = {}

    # ---- trailing stop ------------------------------------------------------------------------
    def created(self, stop: TrailingStop, price: Decimal, size: Decimal) -> None:
        self._trailing(trailing_event(stop, TrailingEventKind.CREATED, stop.last_update_time, size=size, price=price))

    def stepped(self, before: TrailingStop, step: TrailingStep, price: Decimal, size: Decimal, at: datetime) -> None:
        for event in trailing_events_for_step(before, step, price, size, at):
            self._trailing(event)

    def removed(self, stop: TrailingStop, why: str) -> None:
        self._trailing(trailing_event(stop, TrailingEventKind.REMOVED, self._clock.now(),
                                      stop_before=stop.current_stop, order_id=stop.stop_order_id, detail=why,
                                      final=final_state(stop)))

    def exchange(self, stop: TrailingStop, kind: TrailingEventKind, *, order_id: str | None,
                 stop_before: Decimal | None, stop_after: Decimal | None, detail: str | None) -> None:
        self._trailing(trailing_event(stop, kind, self._clock.now(), stop_before=stop_before, stop_after=stop_after,
                                      order_id=order_id, detail=detail))

    def warning(self, stop: TrailingStop, detail: str) -> None:
        self._trailing(trailing_event(stop, TrailingEventKind.WARNING, self._clock.now(), detail=detail))

    # ---- exits --------------------------------------------------------------------------------
    def exit_decided(self, symbol: str, decision: ExitDecision, size: Decimal, attempt: int,
                     replacing: ExitEventKind | None) -> None:
        now = self._clock.now()
        self._decided_mono.setdefault(symbol, self._clock.monotonic())
        self._last_reason[symbol] = decision.reason.value
        kinds = ([] if replacing is None else [replacing]) + [ExitEventKind.DECIDED]
        for kind in kinds:
            self._exit(ExitEvent(symbol, kind, now, decision.reason.value, attempt=attempt,
                                 order_kind=decision.order_kind.value, size=size, target_price=decision.target_price,
                                 quote_price=decision.quote_price,
                                 detail=decision.why if kind is ExitEventKind.DECIDED else "replaces the live exit"))

    def exit_sent(self, symbol: str, decision: ExitDecision, attempt: int, order_id: str | None) -> None:
        self._exit(ExitEvent(symbol, ExitEventKind.ORDER_SENT, self._clock.now(), decision.reason.value,
                             attempt=attempt, order_id=order_id, order_kind=decision.order_kind.value))

    def exit_failed(self, symbol: str, reason: str | None, attempt: int | None, detail: str,
                    order_id: str | None = None) -> None:
        self._exit(ExitEvent(symbol, ExitEventKind.FAILED, self._clock.now(), reason, attempt=attempt,
                             order_id=order_id, detail=detail[:500]))

    def exit_finished(self, symbol: str, *, filled: bool, order_id: str | None, detail: str | None = None) -> None:
        reason = self._last_reason.get(symbol)
        if not filled:
            self.exit_failed(symbol, reason, None, "exit order ended without a fill", order_id)
            return
        started = self._decided_mono.pop(symbol, None)
        self._last_reason.pop(symbol, None)
        if started is not None:
            EXIT_LATENCY.observe(max(0.0, self._clock.monotonic() - started))
        self._exit(ExitEvent(symbol, ExitEventKind.FILLED, self._clock.now(), reason, order_id=order_id, detail=detail))

    def forget(self, symbol: str) -> None:
        self._decided_mono.pop(symbol, None)
        self._last_reason.pop(symbol, None)

    def _trailing(self, event: TrailingEvent) -> None:
        if self._writer is not None:
            self._writer.record(event)

    def _exit(self, event: ExitEvent) -> None:
        if self._writer is not None:
            self._writer.record_exit(event)
