"""The short crash-restart soak (≥ 20 SIGKILLs) in the test suite; `bench/chaos_soak.py` runs long ones."""

from __future__ import annotations

import pytest

from tests.e2e.soak import run_soak

KILLS = 20


@pytest.mark.slow
async def test_crash_restart_soak_loses_and_duplicates_nothing(db_url: str, tmp_path_factory: pytest.TempPathFactory,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    result = await run_soak(db_url, tmp_path_factory.mktemp("soak"), kills=KILLS, seed=11, say=print)
    with capsys.disabled():
        print(f"\nsoak: {result.as_dict()}")
    assert result.kills >= KILLS
    assert result.problems == []
    assert result.exchange_fills == result.recorded_fills > 0
    assert result.trailing_checks > 0  # restarts really had trailing stops to restore
