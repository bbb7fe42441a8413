"""Exit bookkeeping: one live exit, escalation, attempt limit, backoff."""

from __future__ import annotations

import random

from core.enums import ExitReason
from market_data.exit_tracker import ExitTracker, Gate

SOFT, HARD = ExitReason.SOFT_STOP, ExitReason.HARD_STOP


def tracker(max_attempts: int = 3) -> ExitTracker:
    return ExitTracker(max_attempts, retry_base_s=1.0, retry_max_s=8.0, live_recheck_s=60.0, rng=random.Random(1))


def test_in_flight_and_live_block_a_second_exit() -> None:
    t = tracker()
    assert t.gate("A", SOFT, 0) is Gate.OK
    t.started("A", SOFT)
    assert t.gate("A", HARD, 0) is Gate.IN_FLIGHT  # even a hard stop waits for the call in flight
    t.succeeded("A", "o1", 0)
    assert t.gate("A", SOFT, 10) is Gate.IN_FLIGHT
    assert t.gate("A", HARD, 10) is Gate.OK  # escalation replaces a live softer exit
    assert t.gate("A", SOFT, 61) is Gate.OK  # live too long without the position going away


def test_attempt_limit_and_backoff() -> None:
    t = tracker(max_attempts=2)
    t.started("A", HARD)
    assert not t.failed("A", 100.0)
    assert t.gate("A", HARD, 100.1) is Gate.BACKOFF
    assert t.gate("A", HARD, 101.0) is Gate.OK  # first retry after at most 1 s
    t.started("A", HARD)
    assert t.failed("A", 200.0)
    assert t.gate("A", HARD, 10_000) is Gate.ATTEMPTS
    assert t.give_up_once("A") and not t.give_up_once("A")


def test_finished_and_forget() -> None:
    t = tracker()
    t.started("A", HARD)
    t.succeeded("A", "o1", 0)
    t.finished("A", filled=False)
    assert t.gate("A", HARD, 1) is Gate.OK and t.get("A") is not None and t.get("A").attempts == 1
    t.finished("A", filled=True)
    assert "A" not in t
    t.started("B", HARD)
    t.forget("B")
    t.succeeded("B", "o2", 0)  # a late answer for a closed position is ignored
    assert "B" not in t
