"""Fixtures: the real app on 127.0.0.1 over a fresh migrated database (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.webhook_http.support import Harness, clear_alerts, start_harness, stop_harness


@pytest.fixture
async def harness(db_sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Harness]:
    await clear_alerts(db_sessions)
    h = await start_harness(db_sessions)
    try:
        yield h
    finally:
        await stop_harness(h)
