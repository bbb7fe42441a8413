"""The leadership gate: who leads, the loops only the leader runs, and the move between roles.

A standby tries the lock every `leader_retry_interval_s`. Once it holds it, it bumps the epoch,
runs the takeover (restore state, reconcile, first sentinel sweep) and starts the leader-only loops
(everything that writes to the exchange). The leader renews its lease with a heartbeat every third
of `leader_lease_s`; when another process has taken over it steps down at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from core.clock import Clock
from core.logging import get_logger
from shared_data.advisory_keys import WEBHOOK_ROLE, holder_id
from webhook.leadership import epoch_store
from webhook.leadership.fence import LeaderFence
from webhook.leadership.lease import HeartbeatVerdict, Lease, Role, judge_heartbeat, regain_verdict
from webhook.leadership.lock import LeaderLock
from webhook.leadership.stepdown import restart_as_standby
from webhook.supervisor import Supervisor, TaskFactory

log = get_logger(__name__)

Takeover = Callable[[], Awaitable[None]]


class LeadershipGate:
    def __init__(self, db_url: str, clock: Clock, *, lease_s: float, retry_interval_s: float,
                 role: str = WEBHOOK_ROLE, holder: str | None = None,
                 on_lost: Callable[[str], Any] = restart_as_standby) -> None:
        self.holder = holder or holder_id()
        self.role_name = role
        self._clock = clock
        self._retry_s = retry_interval_s
        self._on_lost = on_lost
        self.lock = LeaderLock(db_url, role, lease_s=lease_s, holder=self.holder)
        self.lease = Lease(lease_s)
        self.fence = LeaderFence(role, idle_timeout_ms=int(lease_s * 1000), on_stale=self._lost)
        self._loops: list[tuple[str, TaskFactory]] = []
        self._takeover: Takeover | None = None
        self._listeners: list[tuple[str, Callable[..., Any]]] = []
        self._listen_conn: asyncpg.Connection | None = None  # the lock connection the channels below are listened on
        self._listening: set[str] = set()
        self._needs_takeover = True
        self.acquired_mono: float | None = None
        self.lost = False

    # ---- wiring -------------------------------------------------------------------------------
    def add(self, name: str, factory: TaskFactory) -> None:
        """A loop only the leader runs (it writes to the exchange)."""
        self._loops.append((name, factory))

    def listen(self, channel: str, callback: Callable[..., Any]) -> None:
        """LISTEN on the lock connection while this process leads (e.g. alerts stored by a standby)."""
        self._listeners.append((channel, callback))

    async def _listen(self) -> None:
        conn = self.lock.conn
        if conn is None:
            return
        if self._listen_conn is not conn:
            self._listen_conn = conn
            self._listening = set()
        for channel, callback in self._listeners:
            if channel not in self._listening:
                self._listening.add(channel)
                await _add_listener(conn, channel, callback)

    def on_takeover(self, takeover: Takeover) -> None:
        """Run when a standby becomes the leader, before the leader loops start."""
        self._takeover = takeover

    @property
    def role(self) -> Role:
        return Role.LEADER if self.fence.epoch is not None and not self.lost else Role.STANDBY

    @property
    def is_leader(self) -> bool:
        return self.role is Role.LEADER

    def status(self) -> dict[str, Any]:
        return {"role": self.role.value, "epoch": self.fence.epoch, "holder": self.holder,
                "lease_valid": self.is_leader and self.lease.valid(self._clock.monotonic())}

    # ---- acquisition --------------------------------------------------------------------------
    async def start(self) -> bool:
        """One attempt at start-up, before state is loaded: a process that leads from the start needs
        no takeover (what it loads next is already the truth). A single process always leads."""
        try:
            acquired = await self._attempt()
        except Exception as exc:  # the DB may be briefly unreachable; `run` keeps trying
            log.warning("leader_lock_attempt_failed", error=repr(exc))
            return False
        if acquired:
            self._needs_takeover = False
        else:
            log.info("leader_standby", role=self.role_name, holder=self.holder,
                     note="another process leads; this one serves alerts, health and data, and waits")
        return acquired

    async def _attempt(self) -> bool:
        if not await self.lock.try_acquire():
            return False
        self.acquired_mono = self._clock.monotonic()
        assert self.lock.conn is not None
        epoch, previous = await epoch_store.take_over(
            self.lock.conn, self.role_name, self.holder, self._clock.now(),
            lock_timeout_ms=int(self.lease.lease_s * 2000), details={"pid": os.getpid()})
        self.lease.renew(self._clock.monotonic())
        self.fence.epoch = epoch
        await self._listen()
        log.info("leader_elected", role=self.role_name, holder=self.holder, epoch=epoch, previous_holder=previous)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """The supervised loop: wait to lead, take over, run the leader loops, hold the lease."""
        while not self.is_leader and not stop.is_set():
            try:
                if await self._attempt():
                    break
            except Exception as exc:
                log.warning("leader_lock_attempt_failed", error=repr(exc))
                await self.lock.close()
            await _wait(stop, self._retry_s)
        if stop.is_set():
            await self._resign()
            return
        await self._listen()  # listeners registered after a start-up acquisition
        # The lease is renewed from now on, also while the takeover loads a long history.
        hold = asyncio.create_task(self._hold(stop), name="leader_lease")
        tasks = [hold]
        try:
            if self._needs_takeover and self._takeover is not None:
                await self._takeover()
            self._needs_takeover = False
            loops = Supervisor(stop)
            for name, factory in self._loops:
                loops.add(name, factory)
            tasks.append(asyncio.create_task(loops.run(), name="leader_loops"))
            await hold
            await tasks[-1]  # graceful stop: the loops see `stop` and finish their unit of work
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._resign()

    async def _hold(self, stop: asyncio.Event) -> None:
        interval = self.lease.heartbeat_interval_s()
        while not stop.is_set():
            await _wait(stop, interval)
            if stop.is_set():
                return
            epoch = self.fence.epoch
            assert epoch is not None
            verdict = judge_heartbeat(await self.lock.heartbeat(), epoch)
            if verdict is HeartbeatVerdict.UNKNOWN:
                verdict = await self._regain(epoch)
            if verdict is HeartbeatVerdict.HOLDING:
                self.lease.renew(self._clock.monotonic())
            elif verdict is HeartbeatVerdict.LOST:
                self._lost(f"leader lock lost and epoch {epoch} is no longer current")
                return
            # UNKNOWN again (database unreachable): keep going; every order is fenced by the DB anyway.

    async def _regain(self, epoch: int) -> HeartbeatVerdict:
        conn = self.lock.conn
        if conn is not None and not conn.is_closed():
            # A slow answer on a live session: the lock is still ours; never give it up by reconnecting.
            return HeartbeatVerdict.UNKNOWN
        try:
            await self.lock.close()
            reacquired = await self.lock.try_acquire()
            assert self.lock.conn is not None
            now = await epoch_store.current_epoch(self.lock.conn, self.role_name)
        except Exception as exc:
            log.warning("leader_lock_unreachable", error=repr(exc), epoch=epoch)
            await self.lock.close()
            return HeartbeatVerdict.UNKNOWN
        verdict = regain_verdict(reacquired, now, epoch)
        if verdict is HeartbeatVerdict.HOLDING:
            await self._listen()
            log.warning("leader_lock_regained", epoch=epoch, note="no other process led in between")
        return verdict

    def _lost(self, reason: str) -> None:
        if self.lost:
            return
        self.lost = True
        self.fence.epoch = None  # nothing more passes the fence, whatever happens next
        self._on_lost(reason)

    async def _resign(self) -> None:
        """Graceful stop: free the lock at once so a standby takes over without waiting for a timeout."""
        conn = self.lock.conn
        if self.is_leader and conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await epoch_store.record_event(conn, self.role_name, self.fence.epoch or 0, "resigned",
                                                   self.holder, self._clock.now())
            log.info("leader_resigned", epoch=self.fence.epoch, holder=self.holder)
        await self.lock.close()


async def _add_listener(conn: asyncpg.Connection, channel: str, callback: Callable[..., Any]) -> None:
    try:
        await conn.add_listener(channel, callback)
    except Exception as exc:  # a missed wake-up costs one poll interval, nothing more
        log.warning("leader_listen_failed", channel=channel, error=repr(exc))


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
