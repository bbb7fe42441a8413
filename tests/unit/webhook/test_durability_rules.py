"""Pure rules of issue #17: account-check verdicts, crash-loop detection, which errors dead-letter a fill."""

from __future__ import annotations

import asyncio

from core.clock import ManualClock
from webhook.account_check import AccountIdentity, mismatch
from webhook.supervisor import Supervisor

PAPER_A = AccountIdentity("paper", "aaaa-1111", None)
PAPER_B = AccountIdentity("paper", "bbbb-2222", None)
LIVE = AccountIdentity("live", "pppp-0000", "organizations/o/apiKeys/k1")


def test_same_account_passes() -> None:
    assert mismatch(PAPER_A, AccountIdentity("paper", "aaaa-1111", None)) is None


def test_wiped_simulator_names_both_accounts_and_paper_reset() -> None:
    line = mismatch(PAPER_A, PAPER_B)
    assert line is not None and "\n" not in line
    assert "aaaa-1111" in line and "bbbb-2222" in line and "portfolio_uuid" in line
    assert "python main.py paper reset" in line


def test_rotated_live_key_points_at_account_adopt() -> None:
    line = mismatch(LIVE, AccountIdentity("live", "pppp-0000", "organizations/o/apiKeys/k2"))
    assert line is not None and "key_name" in line and "account adopt" in line
    assert "k1" not in line or "…" in line  # key names are masked


def test_paper_database_under_a_live_key_is_refused() -> None:
    line = mismatch(PAPER_A, LIVE)
    assert line is not None and "trading_mode" in line and "DATABASE_URL" in line


async def test_a_loop_that_keeps_crashing_is_reported_then_forgotten() -> None:
    stop = asyncio.Event()
    clock = ManualClock()
    sup = Supervisor(stop, backoff_base_s=0.001, backoff_max_s=0.002, clock=clock, crash_loop_restarts=3,
                     crash_loop_window_s=60)
    crashes = 0

    async def crashing(_stop: asyncio.Event) -> None:
        nonlocal crashes
        crashes += 1
        if crashes >= 3:
            stop.set()
        raise RuntimeError("boom")

    async def steady(s: asyncio.Event) -> None:
        await s.wait()

    sup.add("reconciler", crashing)
    sup.add("sentinel", steady)
    await asyncio.wait_for(sup.run(), timeout=10)
    assert sup.problems() == ["crash_loop:reconciler"]
    clock.advance(61)
    assert sup.problems() == []


def test_only_a_refusing_database_dead_letters_a_fill() -> None:
    from webhook.fill_dead_letters import is_refusal

    class PgError(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    class Wrapped(Exception):
        def __init__(self, orig: BaseException) -> None:
            super().__init__("wrapped")
            self.orig = orig

    assert is_refusal(Wrapped(PgError("P0001")))  # RAISE in a trigger
    assert is_refusal(Wrapped(PgError("23505")))  # unique violation
    assert not is_refusal(Wrapped(PgError("08006")))  # connection failure
    assert not is_refusal(Wrapped(PgError("57P01")))  # admin shutdown
    assert not is_refusal(OSError("connection refused"))
    assert not is_refusal(TimeoutError())
