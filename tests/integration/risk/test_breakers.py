"""Breakers on a real PostgreSQL: a scripted session trips the losing-streak pause and the daily loss limit;
both survive a new RiskManager (a restart), block only entries, and clear as documented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from core.clock import ManualClock
from core.settings import load_settings
from risk.manager import RiskManager
from risk.rules import Breaker
from shared_data.db import create_engine, session_factory
from shared_data.models import RiskEvent
from tests.unit.market_data.inmemory import ListNotifier

D = Decimal
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
SETTINGS = load_settings(daily_loss_limit_usd=D("200"), max_consecutive_losses=3, max_position_pct=D("25"))


async def entry_ok(risk: RiskManager) -> bool:
    return (await risk.check_entry("SOL-USD", D("100"), D("1000"), quote_age_s=1.0)).allowed


async def test_scripted_session_trips_persists_and_blocks_only_entries(db_url: str) -> None:
    clock = ManualClock(T0)
    engine = create_engine(db_url, pool_size=2)
    notifier = ListNotifier()
    risk = RiskManager(session_factory(engine), SETTINGS, clock=clock, notifier=notifier)
    await risk.load()
    assert await entry_ok(risk)

    script = [("-50", []), ("20", []), ("-40", []), ("-30", []), ("-60", [Breaker.LOSING_STREAK])]
    for i, (pnl, expected) in enumerate(script):
        trips = await risk.record_exit(D(pnl), T0 + timedelta(minutes=i))
        assert [t.breaker for t in trips] == expected, (i, pnl)
    verdict = await risk.check_entry("SOL-USD", D("100"), D("1000"), quote_age_s=1.0)
    assert not verdict.allowed and verdict.breakers == (Breaker.LOSING_STREAK,)
    assert "3 losing exits in a row" in verdict.reasons[0]

    # Exits are never blocked: the next exit is recorded, and it takes the day past −200 USD.
    trips = await risk.record_exit(D("-45"), T0 + timedelta(minutes=10))
    assert [t.breaker for t in trips] == [Breaker.DAILY_LOSS]
    await risk.drain()
    assert [topic for topic, _ in notifier.messages] == ["breaker_tripped", "breaker_tripped"]
    await engine.dispose()

    # A restart: a new engine and manager see both breakers, with their reasons, and the counters.
    engine = create_engine(db_url, pool_size=2)
    sessions = session_factory(engine)
    risk = RiskManager(sessions, SETTINGS, clock=clock)
    snapshot = await risk.load()
    assert {b for b, s in snapshot.breakers.items() if s.tripped} == {Breaker.LOSING_STREAK, Breaker.DAILY_LOSS}
    assert "-205" in (snapshot.breakers[Breaker.DAILY_LOSS].reason or "")
    assert snapshot.counters.realized_pnl_usd == D("-205") and snapshot.counters.consecutive_losses == 4
    verdict = await risk.check_entry("SOL-USD", D("100"), D("1000"), quote_age_s=1.0)
    assert set(verdict.breakers) == {Breaker.LOSING_STREAK, Breaker.DAILY_LOSS}

    # resume clears the pause (and its streak) but not today's loss limit …
    assert await risk.resume() == [Breaker.LOSING_STREAK]
    assert (await risk.state()).counters.consecutive_losses == 0
    verdict = await risk.check_entry("SOL-USD", D("100"), D("1000"), quote_age_s=1.0)
    assert verdict.breakers == (Breaker.DAILY_LOSS,)
    # … which clears itself on the next UTC day.
    clock.advance(timedelta(hours=11).total_seconds())
    assert await entry_ok(risk)
    fresh_day = await risk.state()
    assert fresh_day.counters.realized_pnl_usd == 0 and not fresh_day.entries_blocked

    async with sessions() as session:
        events = [(e.breaker, e.event, e.reason) for e in
                  (await session.scalars(select(RiskEvent).order_by(RiskEvent.id))).all()]
    assert [(b, e) for b, e, _ in events] == [("losing_streak", "trip"), ("daily_loss", "trip"),
                                              ("losing_streak", "reset"), ("daily_loss", "reset")]
    assert events[-1][2] == "new UTC day"
    await engine.dispose()


async def test_other_entry_rules_apply_without_breakers(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=1)
    risk = RiskManager(session_factory(engine), SETTINGS, clock=ManualClock(T0 + timedelta(days=3)))
    too_big = await risk.check_entry("SOL-USD", D("300"), D("1000"), quote_age_s=1.0)
    stale = await risk.check_entry("SOL-USD", D("100"), D("1000"), quote_age_s=45.0)
    assert not too_big.allowed and not stale.allowed and too_big.breakers == stale.breakers == ()
    await engine.dispose()


async def test_unreadable_risk_state_refuses_entries() -> None:
    engine = create_engine("postgresql://postgres@127.0.0.1:1/nowhere", pool_size=1, connect_timeout_s=2)
    risk = RiskManager(session_factory(engine), SETTINGS)
    verdict = await risk.check_entry("SOL-USD", D("100"), D("1000"), quote_age_s=1.0)
    assert not verdict.allowed and "risk state unavailable" in verdict.reasons[0]
    await engine.dispose()
