"""SimulatorConfig from settings, and the scaled simulation clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.settings import load_settings
from simulator.clock import SimClock
from simulator.config import SimulatorConfig


def test_from_settings_with_overrides(tmp_path: Path) -> None:
    settings = load_settings(sim_products="BTC-USD,ETH-USD", sim_seed=9, sim_initial_usd=Decimal("500"),
                             sim_state_dir=tmp_path, sim_clock_speed=10.0)
    cfg = SimulatorConfig.from_settings(settings, auto_tick=False, fills_lag_s=2.0)
    assert cfg.products == ["BTC-USD", "ETH-USD"] and cfg.seed == 9 and cfg.state_dir == tmp_path
    assert cfg.initial_balances == {"USD": Decimal("500")} and cfg.clock_speed == 10.0
    assert cfg.auto_tick is False and cfg.fills_lag_s == 2.0
    assert cfg.engine_config().seed == 9
    with pytest.raises(TypeError):
        SimulatorConfig.from_settings(settings, no_such_field=1)


def test_clock_runs_faster_and_jumps() -> None:
    real = [50.0]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = SimClock(speed=100.0, start=start, real_monotonic=lambda: real[0])
    assert clock.now() == start and clock.monotonic() == 0
    real[0] += 0.5
    assert clock.now() == start + timedelta(seconds=50)
    clock.advance(60)
    assert clock.monotonic() == 110.0 and clock.now() == start + timedelta(seconds=110)
    assert clock.real_seconds(100.0) == 1.0
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        SimClock(speed=0)
