"""The sighook process: signals only, never orders.

`run_sighook` warms the indicator code, then runs one cycle every SIGHOOK_INTERVAL_S until `stop`
is set. A failed cycle is logged and the next one runs on schedule; nothing a product or the
exchange does can end the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from core.logging import get_logger
from core.settings import Settings
from exchange.port import ExchangePort
from shared_data.advisory_keys import holder_id
from shared_data.db import create_engine, session_factory
from sighook import indicators
from sighook.loop import SighookCycle
from sighook.replicas.leases import ProductLeases

log = get_logger(__name__)


def build_exchange(settings: Settings) -> ExchangePort:
    """The Coinbase REST adapter for the configured mode (the simulator in paper mode)."""
    from exchange.coinbase.clients import CoinbaseConfig, build_rest_adapter

    return build_rest_adapter(CoinbaseConfig.from_settings(settings))


async def run_sighook(settings: Settings, db_url: str, stop: asyncio.Event,
                      exchange: ExchangePort | None = None) -> None:
    engine = create_engine(db_url, pool_size=2, statement_timeout_ms=settings.db_statement_timeout_ms,
                           connect_timeout_s=settings.db_connect_timeout_s)
    cycle: SighookCycle | None = None
    try:
        started = time.perf_counter()
        await asyncio.to_thread(indicators.warm_up)
        log.info("sighook_warmed_up", seconds=round(time.perf_counter() - started, 3))
        leases = ProductLeases(db_url, holder_id())  # replicas split the products (issue #24)
        cycle = SighookCycle(settings, exchange or build_exchange(settings), session_factory(engine), leases=leases)
        log.info("sighook_ready", interval_s=settings.sighook_interval_s, granularity=settings.candle_granularity,
                 webhook_url=cycle.alerter.url)
        await run_cycles(cycle, stop, settings.sighook_interval_s)
    finally:
        if cycle is not None:
            await cycle.alerter.close()
            if cycle.leases is not None:
                await cycle.leases.close()
        await engine.dispose()
        log.info("sighook_stopped")


# Start a cycle this long after an interval boundary: the exchange has closed the bucket by then.
CYCLE_OFFSET_S = 3.0


def next_cycle_delay(now_epoch_s: float, interval_s: float, offset_s: float = CYCLE_OFFSET_S) -> float:
    """Seconds until the next `k·interval + offset` (epoch-aligned), so with one-minute candles and a
    60 s interval each cycle runs just after a candle closes instead of up to a minute later."""
    if interval_s <= 0:
        raise ValueError("interval must be positive")
    offset = offset_s % interval_s
    elapsed = (now_epoch_s - offset) % interval_s
    return interval_s - elapsed if elapsed > 0 else 0.0


async def run_cycles(cycle: SighookCycle, stop: asyncio.Event, interval_s: float, align: bool = True) -> None:
    """One cycle per interval until `stop`; a slow cycle delays the next one, never overlaps it.

    `align`: start cycles at epoch-aligned times (see next_cycle_delay) rather than `interval_s`
    after the previous start.
    """
    while not stop.is_set():
        started = time.monotonic()
        try:
            await cycle.run_once()
        except asyncio.CancelledError:
            raise
        except Exception:  # run_once reports stage errors itself; this is the last line of defence
            log.error("sighook_cycle_crashed", exc_info=True)
        if align:
            wait = next_cycle_delay(time.time(), interval_s)
        else:
            wait = max(0.0, interval_s - (time.monotonic() - started))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
