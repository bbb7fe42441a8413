"""risk.manager.prefetched_state: the next entry check in the block uses the rows handed to it (read by the
caller in its own statement) instead of reading risk_state, once; outside the block it reads them itself."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from core.clock import ManualClock
from core.settings import load_settings
from risk.manager import STATE_SQL, RiskManager, prefetched_state
from shared_data import direct
from shared_data.db import create_engine, session_factory

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


async def _allowed(risk: RiskManager) -> bool:
    return (await risk.check_entry("SOL-USD", Decimal("10"), Decimal("1000"), quote_age_s=1.0)).allowed


async def test_prefetched_rows_serve_one_check_and_only_inside_the_block(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=2)
    sessions = session_factory(engine)
    risk = RiskManager(sessions, load_settings(), clock=ManualClock(T0))
    try:
        await risk.halt("operator")
        halted = await direct.fetch(sessions, STATE_SQL)
        await risk.resume()
        assert await _allowed(risk)
        with prefetched_state(halted):
            assert not await _allowed(risk)  # the rows handed over, not the database's
            assert await _allowed(risk)  # once: the next check reads the database again
        with prefetched_state(await direct.fetch(sessions, STATE_SQL)):
            assert await _allowed(risk)
        with prefetched_state(None):
            assert await _allowed(risk)
        await risk.halt("again")
        assert not await _allowed(risk)
        await risk.resume()
    finally:
        await engine.dispose()
