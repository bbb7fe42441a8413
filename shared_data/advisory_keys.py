"""Advisory-lock keys (webhook leader, sighook product leases): two int4 values (namespace,
object) so they never collide with other users of advisory locks on the same database, and so
`pg_locks` shows them as classid/objid."""

from __future__ import annotations

import os
import secrets
import socket
import zlib

NAMESPACE_LEADER = 0x42544C01  # 'BTL' + 1: the webhook leader lock
NAMESPACE_SIGHOOK_PRODUCT = 0x42544C02  # one lock per product a sighook replica computes
NAMESPACE_SIGHOOK_REPLICA = 0x42544C03  # one per live sighook replica (counts them)
NAMESPACE_SIGHOOK_PUBLISH = 0x42544C04  # serialises the replicas' read-merge-write of market_data

WEBHOOK_ROLE = "webhook"


def as_int4(value: int) -> int:
    """PostgreSQL's advisory-lock keys are signed 32-bit integers."""
    value &= 0xFFFFFFFF
    return value - 0x1_0000_0000 if value >= 0x8000_0000 else value


def object_key(name: str) -> int:
    """A stable int4 for a name (role, product id); crc32 is the same on every host and Python run."""
    return as_int4(zlib.crc32(name.encode()))


def leader_key(role: str = WEBHOOK_ROLE) -> tuple[int, int]:
    return as_int4(NAMESPACE_LEADER), object_key(role)


def holder_id() -> str:
    """Names this process in locks, events and logs: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
