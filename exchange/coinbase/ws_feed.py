"""`WsFeed`: our own WebSocket manager for Advanced Trade feeds (websockets 13.x, `websockets.asyncio`).

Why not the SDK's WSClient: it exits silently on close 1000/1001 and dies on any handler exception
(reference §4.7). This manager subscribes (always with `heartbeats`, a fresh JWT per message) right
after connecting, runs a heartbeat watchdog that tears a stalled connection down, reconnects with
jittered exponential backoff, tracks `sequence_num` per connection, survives any handler exception,
and signals the reconciler after EVERY (re)connect and sequence gap. While an outage lasts it alerts
again every `outage_alert_interval_s`. It runs until `stop` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import random
import ssl
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from core.clock import Clock, SystemClock
from core.logging import get_logger
from core.metrics import WS_CONNECTED, WS_MESSAGE_LAG, WS_RECONNECTS, WS_SEQUENCE_GAPS
from exchange.coinbase.retry_policy import backoff_delay
from exchange.coinbase.ws_protocol import (
    ErrorFrame,
    FrameError,
    Heartbeat,
    SequenceTracker,
    Unknown,
    UserOrderUpdate,
    UserSnapshotBatch,
    UserUpdateDeduper,
    WsEvent,
    parse_frame,
)

log = get_logger(__name__)

EventHandler = Callable[[WsEvent], Awaitable[None] | None]
ReconcileHook = Callable[[str], Awaitable[None] | None]
OutageHook = Callable[[float], Awaitable[None] | None]

MAX_MESSAGE_BYTES = 10 * 2**20  # level2 snapshots are large (the SDK uses the same limit)
HEARTBEATS = "heartbeats"


class WsFeed:
    def __init__(self, name: str, url: str, channels: Sequence[str], product_ids: Sequence[str],
                 on_event: EventHandler, stop: asyncio.Event, *,
                 jwt_factory: Callable[[], str] | None = None, ssl_context: ssl.SSLContext | None = None,
                 heartbeat_timeout_s: float = 10.0, backoff_base_s: float = 0.5, backoff_max_s: float = 30.0,
                 open_timeout_s: float = 10.0, outage_alert_interval_s: float = 30.0,
                 on_reconcile: ReconcileHook | None = None, on_outage: OutageHook | None = None,
                 resubscribe_on_gap: bool = True, dedupe_user_updates: bool = True,
                 clock: Clock | None = None, rng: random.Random | None = None) -> None:
        self.name = name
        self.url = url
        self.channels = [c for c in dict.fromkeys(channels) if c != HEARTBEATS]
        self.product_ids = list(product_ids)
        self._on_event = on_event
        self._stop = stop
        self._jwt = jwt_factory
        self._ssl = ssl_context
        self._hb_timeout = heartbeat_timeout_s
        self._backoff = (backoff_base_s, backoff_max_s)
        self._open_timeout = open_timeout_s
        self._alert_every = outage_alert_interval_s
        self._on_reconcile = on_reconcile
        self._on_outage = on_outage
        self._resubscribe_on_gap = resubscribe_on_gap
        self._dedupe = UserUpdateDeduper() if dedupe_user_updates else None
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._tracker = SequenceTracker()
        self._lag_metric = WS_MESSAGE_LAG.labels(feed=name)  # bound once: labels() per message is costly
        self._ws: ClientConnection | None = None
        self._teardown_cause: str | None = None
        self._last_heartbeat_mono: float | None = None
        self._session_started_mono = 0.0
        self._last_resubscribe_mono = float("-inf")
        self._outage_since: float | None = None
        self._last_outage_alert: float | None = None
        self._connected_once = False
        self.last_message_at: datetime | None = None
        #: Set after every (re)connect and every gap; the reconciler clears it when it runs.
        self.reconcile_needed = asyncio.Event()
        # Counters for health pages and tests.
        self.connects = 0
        self.reconnects = 0
        self.gaps = 0
        self.reconcile_signals = 0
        self.handler_errors = 0
        self.messages = 0
        self.outage_alerts = 0
        self.duplicates_dropped = 0

    # ---- health --------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Connected, subscribed, and a heartbeat arrived on this connection within the watchdog timeout."""
        last = self._last_heartbeat_mono
        return self._ws is not None and last is not None and self._clock.monotonic() - last <= self._hb_timeout

    # ---- main loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        watchdog = asyncio.create_task(self._watchdog(), name=f"ws-watchdog-{self.name}")
        attempt = 0
        self._outage_since = self._clock.monotonic()
        try:
            while not self._stop.is_set():
                had_heartbeat, cause = await self._session()
                if self._stop.is_set():
                    break
                self.reconnects += 1
                WS_RECONNECTS.labels(feed=self.name, cause=cause).inc()
                attempt = 0 if had_heartbeat else attempt + 1
                delay = backoff_delay(attempt, *self._backoff, self._rng.random())
                log.warning("ws_disconnected", feed=self.name, cause=cause, retry_in_s=round(delay, 3),
                            attempt=attempt)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            WS_CONNECTED.labels(feed=self.name).set(0)
            log.info("ws_feed_stopped", feed=self.name)

    async def _session(self) -> tuple[bool, str]:
        """One connection: connect, subscribe, read until it ends. Returns (got a heartbeat, cause)."""
        self._tracker.reset()
        self._teardown_cause = None
        self._last_heartbeat_mono = None
        got_heartbeat = False
        try:
            async with connect(self.url, ssl=self._ssl, open_timeout=self._open_timeout,
                               max_size=MAX_MESSAGE_BYTES, close_timeout=2, compression=None) as ws:
                self._ws = ws
                if self._stop.is_set():  # stopped while connecting: the watchdog, gone, will not close it
                    return got_heartbeat, "stopped"
                self._session_started_mono = self._clock.monotonic()  # the watchdog clock starts now
                await self._subscribe(ws, [HEARTBEATS, *self.channels])
                self._on_connected()
                while True:
                    message = await ws.recv()
                    got_heartbeat = await self._on_frame(ws, message) or got_heartbeat
        except ConnectionClosed as exc:
            return got_heartbeat, self._teardown_cause or _close_cause(exc)
        except (OSError, TimeoutError, InvalidHandshake) as exc:  # refused, unreachable, HTTP 4xx/5xx handshake
            log.warning("ws_connect_failed", feed=self.name, url=self.url, error=f"{type(exc).__name__}: {exc}")
            return got_heartbeat, self._teardown_cause or "connect_error"
        except Exception as exc:  # handshake rejections and anything unexpected: log, back off, retry
            log.error("ws_session_error", feed=self.name, error=f"{type(exc).__name__}: {exc}")
            return got_heartbeat, self._teardown_cause or "error"
        finally:
            self._ws = None
            WS_CONNECTED.labels(feed=self.name).set(0)
            if self._outage_since is None:
                self._outage_since = self._clock.monotonic()
                self._last_outage_alert = None

    async def _subscribe(self, ws: ClientConnection, channels: Sequence[str]) -> None:
        for channel in channels:
            msg: dict[str, Any] = {"type": "subscribe", "channel": channel,
                                   "product_ids": [] if channel == HEARTBEATS else self.product_ids}
            if self._jwt is not None:
                msg["jwt"] = self._jwt()  # a fresh JWT per message (2-minute lifetime)
            await ws.send(json.dumps(msg))

    def _on_connected(self) -> None:
        now = self._clock.monotonic()
        self.connects += 1
        WS_CONNECTED.labels(feed=self.name).set(1)
        if self._outage_since is not None and self._connected_once:
            log.info("ws_reconnected", feed=self.name, outage_s=round(now - self._outage_since, 3))
        else:
            log.info("ws_connected", feed=self.name, url=self.url, channels=self.channels)
        self._outage_since = None
        self._last_outage_alert = None
        reason = "reconnect" if self._connected_once else "connect"
        self._connected_once = True
        self._signal_reconcile(reason)

    # ---- frames --------------------------------------------------------------------------------

    async def _on_frame(self, ws: ClientConnection, message: str | bytes) -> bool:
        """Handle one frame; never raises. Returns True when it held a heartbeat."""
        now = self._clock.monotonic()
        self.messages += 1
        try:
            frame = parse_frame(message)
        except FrameError as exc:
            log.warning("ws_bad_frame", feed=self.name, error=str(exc))
            return False
        wall = self._clock.now()
        self.last_message_at = wall
        if frame.timestamp is not None:
            self._lag_metric.observe(max(0.0, (wall - frame.timestamp).total_seconds()))
        check = self._tracker.observe(frame.sequence_num)
        if check.gap:
            await self._on_gap(ws, "sequence_gap", check.gap)
        heartbeat = False
        for event in frame.events:
            if isinstance(event, Heartbeat):
                heartbeat = True
                self._last_heartbeat_mono = now
                missed = self._tracker.observe_heartbeat(event.counter)
                if missed and not check.gap:  # a sequence gap already covers the same loss
                    await self._on_gap(ws, "heartbeat_gap", missed)
            elif isinstance(event, ErrorFrame):
                log.error("ws_error_frame", feed=self.name, message=event.message)
            elif isinstance(event, Unknown):
                continue  # new channels/types are ignored by design
            elif isinstance(event, UserOrderUpdate) and self._dedupe is not None:
                if not self._dedupe.is_new(event):
                    self.duplicates_dropped += 1
                    continue
            elif isinstance(event, UserSnapshotBatch) and self._dedupe is not None:
                for order in event.orders:  # remember snapshot states so later replays are dropped
                    self._dedupe.is_new(order)
            await self._deliver(event)
        return heartbeat

    async def _deliver(self, event: WsEvent) -> None:
        """Call the handler; any exception is logged and swallowed so one bad message cannot kill the feed."""
        try:
            result = self._on_event(event)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            self.handler_errors += 1
            log.exception("ws_handler_error", feed=self.name, event_type=type(event).__name__,
                          error=f"{type(exc).__name__}: {exc}")

    async def _on_gap(self, ws: ClientConnection, kind: str, missing: int) -> None:
        self.gaps += 1
        WS_SEQUENCE_GAPS.labels(feed=self.name).inc()
        log.warning("ws_sequence_gap", feed=self.name, kind=kind, missing=missing)
        self._signal_reconcile(kind)
        now = self._clock.monotonic()
        if self._resubscribe_on_gap and self.channels and now - self._last_resubscribe_mono >= self._hb_timeout:
            self._last_resubscribe_mono = now  # at most one fresh snapshot per watchdog period
            try:
                await self._subscribe(ws, self.channels)
            except ConnectionClosed:
                pass  # the receive loop will see the close

    def _signal_reconcile(self, reason: str) -> None:
        self.reconcile_signals += 1
        self.reconcile_needed.set()
        if self._on_reconcile is not None:
            self._spawn_hook(self._on_reconcile, reason)

    def _spawn_hook(self, hook: Callable[[Any], Awaitable[None] | None], arg: Any) -> None:
        try:
            result = hook(arg)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                task.add_done_callback(self._hook_done)
        except Exception as exc:
            log.exception("ws_hook_error", feed=self.name, error=f"{type(exc).__name__}: {exc}")

    def _hook_done(self, task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("ws_hook_error", feed=self.name, error=repr(task.exception()))

    # ---- watchdog ------------------------------------------------------------------------------

    async def _watchdog(self) -> None:
        tick = max(0.01, min(1.0, self._hb_timeout / 4, self._alert_every / 4))
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), tick)
            now = self._clock.monotonic()
            ws = self._ws
            if self._stop.is_set():
                if ws is not None:
                    await ws.close()
                return
            if ws is not None:
                last = self._last_heartbeat_mono or self._session_started_mono
                if now - last > self._hb_timeout and self._teardown_cause is None:
                    self._teardown_cause = "stall"
                    log.warning("ws_stalled", feed=self.name, silent_s=round(now - last, 3))
                    WS_CONNECTED.labels(feed=self.name).set(0)
                    ws.transport.abort()  # a stalled peer may never answer a close handshake
            if self._outage_since is not None:
                duration = now - self._outage_since
                due = self._last_outage_alert is None or now - self._last_outage_alert >= self._alert_every
                if duration >= self._alert_every and due:
                    self._last_outage_alert = now
                    self.outage_alerts += 1
                    log.error("ws_outage", feed=self.name, duration_s=round(duration, 1), url=self.url)
                    if self._on_outage is not None:
                        self._spawn_hook(self._on_outage, duration)


def _close_cause(exc: ConnectionClosed) -> str:
    code = exc.rcvd.code if exc.rcvd is not None else None
    if code in (1000, 1001, 1011):
        return f"close_{code}"
    if code is None or code == 1006:
        return "abnormal"
    return "close_other"
