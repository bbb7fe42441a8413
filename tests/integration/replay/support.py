"""Replays in tests: each gets its own database on the test server, dropped afterwards.

Import `run_replay` into a test module (or conftest) to use the fixture."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from replay.run import ReplayOutcome, ReplayRequest, replay
from shared_data.db import drop_database

Runner = Callable[..., Awaitable[ReplayOutcome]]


@pytest.fixture
async def run_replay(pg_server_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Runner]:
    monkeypatch.setenv("DATABASE_URL", pg_server_url)
    names: list[str] = []

    async def run(request: ReplayRequest, **kwargs: Any) -> ReplayOutcome:
        name = kwargs.pop("database", None) or f"bt_test_replay_{uuid.uuid4().hex[:10]}"
        names.append(name)
        return await replay(request, database=name, **kwargs)

    yield run
    for name in names:
        await drop_database(pg_server_url, name)
