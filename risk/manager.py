"""RiskManager: the circuit breakers of risk/rules.py, persisted in risk_state / risk_events.

The database is the source of truth, so a `halt` from the CLI reaches a running daemon at its next
entry check, and a tripped breaker survives restarts. Each breaker has one risk_state row; its
`details` hold the breaker's counter (daily_loss: day + realized P&L; losing_streak: the streak),
its `reason` why it tripped. Every trip and reset is appended to risk_events.

Entries fail closed: if the risk state cannot be read, `check_entry` refuses. Exits are never
checked here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.logging import get_logger
from core.metrics import BREAKER_TRIPPED
from core.money import to_decimal
from core.settings import RiskSettings
from market_data.ports import Notifier
from risk import rules, store
from risk.rules import Breaker, BreakerStatus, RiskCounters, RiskLimits, RiskVerdict, Trip
from shared_data import direct

log = get_logger(__name__)

DB_TIMEOUT_S = 10.0
NOTIFY_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    breakers: Mapping[Breaker, BreakerStatus]
    counters: RiskCounters

    @property
    def entries_blocked(self) -> bool:
        return any(s.tripped for s in self.breakers.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries_blocked": self.entries_blocked,
            "breakers": {b.value: {"tripped": s.tripped, "reason": s.reason,
                                   "tripped_at": s.tripped_at.isoformat() if s.tripped_at else None}
                         for b, s in self.breakers.items()},
            "counters": {"day": self.counters.day.isoformat(),
                         "realized_pnl_usd": str(self.counters.realized_pnl_usd),
                         "consecutive_losses": self.counters.consecutive_losses},
        }


# What `state` reads; a caller that reads the database right before an entry check may fold it into its own
# statement and hand the rows to the check (`check_entry(state_rows=…)`), saving the check its round trip.
STATE_SQL = "SELECT breaker, tripped, reason, details, tripped_at FROM risk_state"


class RiskManager:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: RiskSettings, *,
                 clock: Clock | None = None, notifier: Notifier | None = None) -> None:
        self._sessions = sessions
        self._limits = RiskLimits.from_settings(settings)
        self._clock = clock or SystemClock()
        self._notifier = notifier
        self._tasks: set[asyncio.Task[None]] = set()
        # risk_state rows by breaker name as last read or written by this manager (see record_exit)
        self._known: dict[str, _StateRow] = {}

    async def load(self) -> RiskSnapshot:
        """Read the persisted breakers (at start); logs what is tripped."""
        snapshot = await self.state()
        for status in snapshot.breakers.values():
            if status.tripped:
                log.warning("breaker_tripped_at_start", breaker=status.breaker.value, reason=status.reason,
                            tripped_at=status.tripped_at)
        return snapshot

    async def state(self) -> RiskSnapshot:
        # One read standing alone: straight through the driver (shared_data.direct).
        async with asyncio.timeout(DB_TIMEOUT_S):
            records = await direct.fetch(self._sessions, STATE_SQL)
        return self._state_of(records)

    def _state_of(self, records: Sequence[Sequence[Any]]) -> RiskSnapshot:
        rows = {r[0]: _StateRow(r[1], r[2], r[3], r[4]) for r in records}
        self._known = rows
        snapshot = _snapshot(rows, rules.utc_day(self._clock.now()))
        for breaker, status in snapshot.breakers.items():
            BREAKER_TRIPPED.labels(breaker=breaker.value).set(1 if status.tripped else 0)
        return snapshot

    async def check_entry(self, symbol: str, notional: Decimal, account_value: Decimal,
                          quote_age_s: float | None, *, state_rows: Sequence[Sequence[Any]] | None = None
                          ) -> RiskVerdict:
        """May a new entry bring `symbol`'s position to `notional` USD? (Exits are never checked.)

        `state_rows`: risk_state's rows (STATE_SQL's columns) read by the caller with nothing but computation
        between that read and this check; the check then does not read them itself."""
        try:
            snapshot = self._state_of(state_rows) if state_rows is not None else await self.state()
            today = rules.utc_day(self._clock.now())
            expired = [b for b, s in snapshot.breakers.items() if rules.daily_loss_expired(s, today)]
            if expired:
                await self._reset(expired, "new UTC day")
                snapshot = await self.state()
        except Exception as exc:
            log.error("risk_state_unavailable", error=repr(exc))
            return RiskVerdict(allowed=False, reasons=(f"risk state unavailable ({exc.__class__.__name__})",))
        verdict = rules.check_entry(symbol, notional, account_value, quote_age_s, snapshot.breakers, self._limits)
        if not verdict.allowed:
            log.info("entry_blocked", symbol=symbol, reasons=list(verdict.reasons))
        return verdict

    async def record_exit(self, pnl_usd: Decimal, at: datetime) -> list[Trip]:
        """Count one realized exit; trips (and persists, notifies) the breakers it calls for."""
        pnl = to_decimal(pnl_usd)
        known = self._known_rows()
        if known is not None:
            # The rows as this manager last saw them: if the exit changes no breaker (no trip, no reset) its
            # counters are written in one statement that checks, under the rows' locks, that they are still
            # stored so; any other writer's change in between (another process's exit, the CLI) makes it
            # write nothing, and the exit is counted by the locked read-modify-write below instead.
            counters, trips, resets, events = self._apply_exit(known, pnl, at)
            if not events:
                async with asyncio.timeout(DB_TIMEOUT_S):
                    if await store.swap(self._sessions, known):
                        self._remember(known)
                        self._exit_recorded(pnl, counters, resets, trips)
                        return trips
        async with asyncio.timeout(DB_TIMEOUT_S), direct.transaction(self._sessions) as driver:
            rows = await store.locked_rows(driver, (Breaker.DAILY_LOSS, Breaker.LOSING_STREAK))
            counters, trips, resets, events = self._apply_exit(rows, pnl, at)
            await store.write(driver, rows, events)
        self._remember(rows)
        self._exit_recorded(pnl, counters, resets, trips)
        return trips

    def _apply_exit(self, rows: dict[Breaker, store.LockedRow], pnl: Decimal, at: datetime
                    ) -> tuple[RiskCounters, list[Trip], list[Breaker], list[store.Event]]:
        """Change `rows` (daily loss, losing streak) in place for one exit; the counters, trips, resets, events."""
        trips: list[Trip] = []
        resets: list[Breaker] = []
        events: list[store.Event] = []
        before = _snapshot({b.value: r for b, r in rows.items()}, rules.utc_day(at))
        counters = rules.apply_exit(before.counters, pnl, at)
        daily = rows[Breaker.DAILY_LOSS]
        if rules.daily_loss_expired(before.breakers[Breaker.DAILY_LOSS], counters.day):
            daily.tripped, daily.reason, daily.tripped_at = False, None, None
            events.append(store.Event(Breaker.DAILY_LOSS, "reset", "new UTC day", {}))
            resets.append(Breaker.DAILY_LOSS)
        kept = {"tripped_day": daily.details["tripped_day"]} if daily.tripped and daily.details else {}
        daily.details = _daily_details(counters) | kept
        rows[Breaker.LOSING_STREAK].details = _streak_details(counters)
        for trip in rules.trips_after_exit(counters, self._limits):
            row = rows[trip.breaker]
            if row.tripped:
                continue
            row.tripped, row.reason, row.tripped_at = True, trip.reason, self._clock.now()
            row.details = (row.details or {}) | dict(trip.details)
            events.append(store.Event(trip.breaker, "trip", trip.reason, dict(trip.details)))
            trips.append(trip)
        return counters, trips, resets, events

    def _exit_recorded(self, pnl: Decimal, counters: RiskCounters, resets: Sequence[Breaker],
                       trips: Sequence[Trip]) -> None:
        for breaker in resets:
            BREAKER_TRIPPED.labels(breaker=breaker.value).set(0)
            log.info("breaker_reset", breaker=breaker.value, reason="new UTC day")
        log.info("risk_exit_recorded", pnl_usd=str(pnl), day_total=str(counters.realized_pnl_usd),
                 streak=counters.consecutive_losses)
        for trip in trips:
            self._tripped(trip.breaker, trip.reason)

    def _known_rows(self) -> dict[Breaker, store.LockedRow] | None:
        """Fresh rows (daily loss, losing streak) as last read or written here; None if one was never seen."""
        rows: dict[Breaker, store.LockedRow] = {}
        for breaker in (Breaker.DAILY_LOSS, Breaker.LOSING_STREAK):
            seen = self._known.get(breaker.value)
            if seen is None:
                return None
            rows[breaker] = store.LockedRow(seen.tripped, seen.reason,
                                            dict(seen.details) if seen.details is not None else None, seen.tripped_at)
        return rows

    def _remember(self, rows: Mapping[Breaker, store.LockedRow]) -> None:
        """Only a hint for the next exit's one-statement write, which checks it against the stored rows."""
        for breaker, row in rows.items():
            self._known[breaker.value] = _StateRow(row.tripped, row.reason,
                                                   dict(row.details) if row.details is not None else None,
                                                   row.tripped_at)

    async def halt(self, reason: str) -> None:
        """The manual kill switch: block all new entries until `resume`."""
        text = reason.strip() or "manual halt"
        async with asyncio.timeout(DB_TIMEOUT_S), direct.transaction(self._sessions) as driver:
            rows = await store.locked_rows(driver, (Breaker.KILL_SWITCH,))
            row = rows[Breaker.KILL_SWITCH]
            row.tripped, row.reason, row.tripped_at = True, text, self._clock.now()
            await store.write(driver, rows, [store.Event(Breaker.KILL_SWITCH, "trip", text, {})])
        self._remember(rows)
        self._tripped(Breaker.KILL_SWITCH, text)

    async def resume(self, breakers: Iterable[Breaker] | None = None, reason: str = "manual resume") -> list[Breaker]:
        """Clear breakers (default: kill switch and losing streak); returns those that were tripped."""
        return await self._reset(list(breakers) if breakers is not None else list(rules.MANUAL_BREAKERS), reason)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=NOTIFY_TIMEOUT_S)

    async def _reset(self, breakers: Sequence[Breaker], reason: str) -> list[Breaker]:
        cleared: list[Breaker] = []
        events: list[store.Event] = []
        async with asyncio.timeout(DB_TIMEOUT_S), direct.transaction(self._sessions) as driver:
            rows = await store.locked_rows(driver, breakers)
            for breaker in breakers:
                row = rows[breaker]
                if breaker is Breaker.LOSING_STREAK:
                    row.details = {"consecutive_losses": 0}  # resuming starts a new streak
                if not row.tripped:
                    continue
                row.tripped, row.reason, row.tripped_at = False, None, None
                events.append(store.Event(breaker, "reset", reason, {}))
                cleared.append(breaker)
            await store.write(driver, rows, events)
        self._remember(rows)
        for breaker in cleared:
            BREAKER_TRIPPED.labels(breaker=breaker.value).set(0)
            log.info("breaker_reset", breaker=breaker.value, reason=reason)
        return cleared

    def _tripped(self, breaker: Breaker, reason: str) -> None:
        BREAKER_TRIPPED.labels(breaker=breaker.value).set(1)
        log.warning("breaker_tripped", breaker=breaker.value, reason=reason)
        if self._notifier is not None:
            task = asyncio.get_running_loop().create_task(self._notify(breaker, reason))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _notify(self, breaker: Breaker, reason: str) -> None:
        assert self._notifier is not None
        try:
            async with asyncio.timeout(NOTIFY_TIMEOUT_S):
                await self._notifier.notify("breaker_tripped", f"new entries blocked: {breaker.value}: {reason}")
        except Exception as exc:
            log.warning("notify_failed", topic="breaker_tripped", error=repr(exc))


@dataclass(frozen=True, slots=True)
class _StateRow:
    """The fields of a risk_state row that a snapshot reads (as fetched through the driver)."""
    tripped: bool
    reason: str | None
    details: dict[str, Any] | None
    tripped_at: datetime | None


def _snapshot(rows: Mapping[str, _StateRow | store.LockedRow], today: date) -> RiskSnapshot:
    statuses: dict[Breaker, BreakerStatus] = {}
    for breaker in Breaker:
        row = rows.get(breaker.value)
        statuses[breaker] = BreakerStatus(
            breaker=breaker, tripped=bool(row and row.tripped), reason=row.reason if row else None,
            tripped_at=row.tripped_at if row else None, details=dict(row.details or {}) if row else {})
    daily = statuses[Breaker.DAILY_LOSS].details
    day = date.fromisoformat(daily["day"]) if isinstance(daily.get("day"), str) else today
    streak = int(statuses[Breaker.LOSING_STREAK].details.get("consecutive_losses", 0))
    counters = RiskCounters(day=day, realized_pnl_usd=to_decimal(daily.get("realized_pnl_usd", "0")),
                            consecutive_losses=streak)
    return RiskSnapshot(breakers=statuses, counters=rules.roll_day(counters, today))


def _daily_details(counters: RiskCounters) -> dict[str, Any]:
    return {"day": counters.day.isoformat(), "realized_pnl_usd": str(counters.realized_pnl_usd)}


def _streak_details(counters: RiskCounters) -> dict[str, Any]:
    return {"consecutive_losses": counters.consecutive_losses}

