"""Pure decisions of the leadership loop: what a heartbeat result means, when a lease has lapsed.

No I/O: the loop in gate.py feeds these with what it measured (Clock port readings).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    STANDBY = "standby"
    LEADER = "leader"


class HeartbeatVerdict(StrEnum):
    HOLDING = "holding"  # lock held, epoch ours: carry on
    LOST = "lost"  # someone else took over (epoch moved, or another holder): step down now
    UNKNOWN = "unknown"  # connection failed: try to regain before the others can take over


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What one heartbeat query saw on the lock connection."""

    lock_held: bool
    epoch: int | None


def judge_heartbeat(beat: Heartbeat | None, my_epoch: int) -> HeartbeatVerdict:
    """`beat` None: the query failed (connection dead, timeout)."""
    if beat is None:
        return HeartbeatVerdict.UNKNOWN
    if beat.epoch is not None and beat.epoch != my_epoch:
        return HeartbeatVerdict.LOST
    if not beat.lock_held:
        return HeartbeatVerdict.UNKNOWN
    return HeartbeatVerdict.HOLDING


def regain_verdict(reacquired: bool, epoch_now: int | None, my_epoch: int) -> HeartbeatVerdict:
    """After losing the lock connection: we may carry on only if we got the lock back and nobody
    bumped the epoch in between (then no other process has ever led since we did)."""
    if reacquired and epoch_now == my_epoch:
        return HeartbeatVerdict.HOLDING
    return HeartbeatVerdict.LOST


@dataclass(slots=True)
class Lease:
    """The leader's own view of how long its lock is certainly still held.

    The server ends the lock session after `lease_s` of silence (idle_session_timeout), so after the
    last successful heartbeat at `renewed_mono` we still hold it for at most `lease_s`; we trust it
    for half of that. A process paused longer (SIGSTOP, a VM freeze) finds its lease lapsed the
    moment it resumes, before any I/O.
    """

    lease_s: float
    renewed_mono: float | None = None

    def renew(self, now_mono: float) -> None:
        self.renewed_mono = now_mono

    def valid(self, now_mono: float) -> bool:
        return self.renewed_mono is not None and now_mono - self.renewed_mono <= self.lease_s / 2

    def heartbeat_interval_s(self) -> float:
        return self.lease_s / 3
