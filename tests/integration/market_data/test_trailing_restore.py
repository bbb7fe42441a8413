"""Trailing stops in trailing_stop_state on a real PostgreSQL: persisted through the sentinel's background
writer, restored exactly by a new process's store, and carrying on from there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ManualClock
from core.enums import TrailingState
from core.settings import load_settings
from market_data.market_cache import MarketCache
from market_data.ports import SignalView
from market_data.position_monitor import PositionMonitor
from market_data.trailing_stop import start_trailing
from market_data.trailing_store import TrailingStore, TrailingWriter
from shared_data.db import create_engine, session_factory
from tests.unit.market_data.inmemory import ListExecutor, ListNotifier, Position, Positions, Signals

D = Decimal
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Process:
    """What one daemon run holds: its own engine, store, writer, cache and sentinel."""

    def __init__(self, db_url: str, clock: ManualClock, restored: dict | None = None) -> None:
        self.engine = create_engine(db_url, pool_size=2)
        self.store = TrailingStore(session_factory(self.engine))
        self.writer = TrailingWriter(self.store)
        self.cache = MarketCache()
        self.clock = clock
        self.positions = Positions(Position("SOL-USD", D("2"), D("100"), opened_at=T0 - timedelta(hours=1)))
        self.signals = Signals()
        self.signals.views["SOL-USD"] = SignalView(sell=False, atr=D("1"), as_of=T0)
        self.executor = ListExecutor()
        self.monitor = PositionMonitor(load_settings(), self.cache, self.positions, self.signals, self.executor,
                                       ListNotifier(), clock=clock, writer=self.writer, trailing=restored)
        self.monitor.attach()

    def tick(self, price: str) -> None:
        self.clock.advance(1)
        self.cache.update("SOL-USD", D(price), received_mono=self.clock.monotonic(), received_at=self.clock.now())


async def test_activate_raise_twice_restart_restores_exactly_and_keeps_moving(db_url: str) -> None:
    clock = ManualClock(T0)
    first = Process(db_url, clock)
    first.tick("101")  # created on the first price update
    first.tick("103.5")  # activated: stop 101.5
    first.tick("104")  # high raised: stop 102
    first.tick("105.3")  # high raised: stop 103
    before = first.monitor.trailing_stop("SOL-USD")
    assert before is not None and before.state is TrailingState.ACTIVE
    assert (before.highest_price, before.current_stop, before.update_count) == (D("105.3"), D("103"), 3)
    assert await first.writer.flush()
    await first.engine.dispose()  # the first process is gone; nothing of it is reused below

    second = Process(db_url, clock, restored=None)
    restored = await second.store.restore(open_symbols=["SOL-USD"])
    assert restored["SOL-USD"] == before  # state, activated_at, highest, stop, update count: all exact
    assert restored["SOL-USD"].activated_at == T0 + timedelta(seconds=2)
    third = Process(db_url, clock, restored=restored)
    await second.engine.dispose()
    third.tick("105.9")  # the stop keeps moving from the restored 103: one 0.5 step to 103.5
    after = third.monitor.trailing_stop("SOL-USD")
    assert after is not None and after.current_stop == D("103.5") and after.update_count == 4
    assert after.activated_at == before.activated_at
    assert await third.writer.flush()
    assert (await third.store.load_all())["SOL-USD"] == after
    third.tick("103.4")  # and it fires from there
    await third.monitor.drain()
    assert [(c.decision.reason.value, c.decision.target_price) for c in third.executor.calls] == [
        ("trailing_stop", D("103.5"))]
    await third.engine.dispose()


async def test_restore_removes_rows_of_closed_positions(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    store = TrailingStore(db_sessions)
    await store.save([start_trailing("ETH-USD", D("2000"), D("2010"), None, T0),
                      start_trailing("LTC-USD", D("80"), D("81"), None, T0)])
    restored = await store.restore(open_symbols=["LTC-USD"])
    assert set(restored) == {"LTC-USD"}
    rows = await store.load_all()
    assert "ETH-USD" not in rows and "LTC-USD" in rows


async def test_a_closed_position_deletes_its_row_through_the_writer(db_url: str) -> None:
    clock = ManualClock(T0)
    proc = Process(db_url, clock)
    proc.tick("101")
    assert await proc.writer.flush()
    assert "SOL-USD" in await proc.store.load_all()
    proc.positions.close("SOL-USD")
    proc.monitor.sweep()
    assert await proc.writer.flush()
    assert "SOL-USD" not in await proc.store.load_all()
    await proc.engine.dispose()
