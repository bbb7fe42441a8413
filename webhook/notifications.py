"""Notifications to the user through apprise (email, Slack, Telegram, … — URLs in NOTIFY_URLS).

`Notifier.notify(topic, message)` sends at most once per `notify_min_interval_s` per topic: a problem
that lasts (the caller keeps reporting it) is re-sent at that interval, never more often; `clear(topic)`
when it is over makes the next occurrence go out at once. apprise is blocking, so it runs in a worker
thread and the caller waits at most `send_timeout_s`. With no URLs, notifications are only logged.
URLs are never logged (they carry tokens).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any

import apprise

from core.clock import Clock
from core.logging import get_logger, redactor

log = get_logger(__name__)


class NotifyTopic(StrEnum):
    BREAKER_TRIPPED = "breaker_tripped"
    STALE_DATA = "stale_data"
    WEBSOCKET_DOWN = "websocket_down"
    ORDER_FAILED = "order_failed"
    HODL_LARGE_LOSS = "hodl_large_loss"


class NotifyResult(StrEnum):
    SENT = "sent"
    LOGGED = "logged"  # no URLs configured
    SUPPRESSED = "suppressed"  # same topic sent less than min_interval_s ago
    BUSY = "busy"  # earlier sends are still stuck in their threads
    FAILED = "failed"
    TIMEOUT = "timeout"


def due(last_sent: float | None, now: float, min_interval_s: float) -> bool:
    """Whether a topic last sent at `last_sent` (monotonic s) may be sent again at `now`."""
    return last_sent is None or now - last_sent >= min_interval_s


class Notifier:
    def __init__(self, urls: Sequence[str], min_interval_s: float, clock: Clock, *, send_timeout_s: float = 10.0,
                 max_threads: int = 2, title: str = "bottrader") -> None:
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._send_timeout_s = send_timeout_s
        self._title = title
        self._last_sent: dict[str, float] = {}
        self._max_threads = max_threads
        self._running = 0
        self._pool: ThreadPoolExecutor | None = None
        self._apprise: Any = None
        redactor.add(*urls)
        if urls:
            # apprise logs through stdlib logging, and its messages can name the destination URL.
            logging.getLogger("apprise").setLevel(logging.CRITICAL)
            self._apprise = apprise.Apprise()
            for index, url in enumerate(urls):
                if not self._apprise.add(url):
                    log.warning("notify_url_invalid", index=index)  # the position only, never the URL
            self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="notify")

    @classmethod
    def from_settings(cls, settings: Any, clock: Clock, **kwargs: Any) -> Notifier:
        return cls(settings.notify_url_list(), settings.notify_min_interval_s, clock, **kwargs)

    @property
    def has_destinations(self) -> bool:
        return self._apprise is not None and len(self._apprise) > 0

    async def notify(self, topic: NotifyTopic | str, message: str) -> NotifyResult:
        topic = str(topic)
        message = redactor.scrub(message)
        now = self._clock.monotonic()
        if not due(self._last_sent.get(topic), now, self._min_interval_s):
            return NotifyResult.SUPPRESSED
        self._last_sent[topic] = now  # attempts count too: a failing destination is not hammered
        log.warning("notification", topic=topic, message=message)
        if not self.has_destinations or self._pool is None:
            return NotifyResult.LOGGED
        if self._running >= self._max_threads:
            log.warning("notification_busy", topic=topic)
            return NotifyResult.BUSY
        result = await self._send(topic, message)
        log.info("notification_result", topic=topic, result=result.value)
        return result

    def clear(self, topic: NotifyTopic | str) -> None:
        """The problem is over: the next notification of this topic is sent at once."""
        self._last_sent.pop(str(topic), None)

    async def _send(self, topic: str, message: str) -> NotifyResult:
        loop = asyncio.get_running_loop()
        self._running += 1
        future = loop.run_in_executor(self._pool, self._blocking_send, topic, message)
        future.add_done_callback(self._thread_done)
        try:
            ok = await asyncio.wait_for(asyncio.shield(future), timeout=self._send_timeout_s)
        except TimeoutError:
            return NotifyResult.TIMEOUT  # the thread finishes on its own; the caller goes on
        except Exception as exc:
            log.warning("notification_error", topic=topic, error=type(exc).__name__)
            return NotifyResult.FAILED
        return NotifyResult.SENT if ok else NotifyResult.FAILED

    def _blocking_send(self, topic: str, message: str) -> bool:
        return bool(self._apprise.notify(body=message, title=f"{self._title}: {topic}",
                                         notify_type=apprise.NotifyType.WARNING))

    def _thread_done(self, future: Any) -> None:
        self._running -= 1
        if not future.cancelled():
            future.exception()  # retrieved here, so a send that outlived its timeout warns nobody

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
