"""The replay's shortcuts (inner points nothing can react to, sweeps while nothing is held, the clock
moved only when read, sighook's blockers reused) change nothing: the same sample replayed with them
and without them (every point, every sweep, blockers read every time) gives a byte-identical report."""

from __future__ import annotations

from pathlib import Path

import pytest

from replay.render import report_json
from replay.run import ReplayRequest
from replay.sample_data import generate
from tests.integration.replay.support import Runner


@pytest.mark.slow
async def test_shortcuts_do_not_change_the_report(tmp_path: Path, run_replay: Runner) -> None:
    files = generate(tmp_path / "sample", candles=6000)
    request = ReplayRequest(data=tuple(map(str, files)), ignore_dust=True,
                            overrides={"max_consecutive_losses": "1000", "daily_loss_limit_usd": "100000"})
    reference = await run_replay(request, database="bt_test_replay_shortcuts", shortcuts=False)
    fast = await run_replay(request, database="bt_test_replay_shortcuts")
    assert reference.stats.skipped_points == 0
    assert fast.stats.skipped_points > 0
    assert reference.report["summary"]["trades"] > 5
    assert len(reference.report["performance"]["by_exit_reason"]) >= 3
    assert report_json(fast.report) == report_json(reference.report)
