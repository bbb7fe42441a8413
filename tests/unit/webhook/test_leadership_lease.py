"""The leadership loop's pure decisions: heartbeat verdicts, regaining the lock, the local lease."""

from __future__ import annotations

from shared_data.advisory_keys import as_int4, leader_key, object_key
from webhook.leadership.lease import Heartbeat, HeartbeatVerdict, Lease, judge_heartbeat, regain_verdict


def test_heartbeat_holding_only_with_lock_and_same_epoch() -> None:
    assert judge_heartbeat(Heartbeat(lock_held=True, epoch=7), 7) is HeartbeatVerdict.HOLDING


def test_moved_epoch_is_lost_even_if_the_lock_looks_held() -> None:
    assert judge_heartbeat(Heartbeat(lock_held=True, epoch=8), 7) is HeartbeatVerdict.LOST
    assert judge_heartbeat(Heartbeat(lock_held=False, epoch=8), 7) is HeartbeatVerdict.LOST


def test_failed_query_or_missing_lock_is_unknown() -> None:
    assert judge_heartbeat(None, 7) is HeartbeatVerdict.UNKNOWN
    assert judge_heartbeat(Heartbeat(lock_held=False, epoch=7), 7) is HeartbeatVerdict.UNKNOWN


def test_regain_only_when_nobody_led_in_between() -> None:
    assert regain_verdict(True, 7, 7) is HeartbeatVerdict.HOLDING
    assert regain_verdict(True, 8, 7) is HeartbeatVerdict.LOST  # someone led and resigned meanwhile
    assert regain_verdict(False, 7, 7) is HeartbeatVerdict.LOST  # someone holds it now


def test_lease_lapses_after_half_its_length_and_renews() -> None:
    lease = Lease(lease_s=3.0)
    assert not lease.valid(0.0)
    lease.renew(10.0)
    assert lease.valid(11.5)
    assert not lease.valid(11.6)  # a pause longer than this: we no longer trust our own lock
    lease.renew(11.6)
    assert lease.valid(12.0)
    assert lease.heartbeat_interval_s() == 1.0


def test_keys_are_stable_signed_int4() -> None:
    assert object_key("webhook") == object_key("webhook")
    assert all(-2**31 <= k < 2**31 for k in leader_key())
    assert as_int4(0xFFFFFFFF) == -1 and as_int4(5) == 5
