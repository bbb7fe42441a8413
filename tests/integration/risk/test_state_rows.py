"""RiskManager.check_entry(state_rows=…): the check uses the rows handed to it (read by the caller in its own
statement) instead of reading risk_state; without them it reads them itself."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.clock import ManualClock
from core.settings import load_settings
from risk.manager import STATE_SQL, RiskManager
from shared_data import direct
from shared_data.db import create_engine, session_factory

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


async def _allowed(risk: RiskManager, rows: Sequence[Sequence[Any]] | None = None) -> bool:
    return (await risk.check_entry("SOL-USD", Decimal("10"), Decimal("1000"), quote_age_s=1.0,
                                   state_rows=rows)).allowed


async def test_rows_handed_over_serve_the_check_instead_of_a_read(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=2)
    sessions = session_factory(engine)
    risk = RiskManager(sessions, load_settings(), clock=ManualClock(T0))
    try:
        await risk.halt("operator")
        halted = await direct.fetch(sessions, STATE_SQL)
        await risk.resume()
        assert await _allowed(risk)
        assert not await _allowed(risk, halted)  # the rows handed over, not the database's
        assert await _allowed(risk)  # without rows: the database's
        assert await _allowed(risk, await direct.fetch(sessions, STATE_SQL))
        await risk.halt("again")
        assert not await _allowed(risk)
        await risk.resume()
    finally:
        await engine.dispose()
