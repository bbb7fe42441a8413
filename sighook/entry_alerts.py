"""Entry alerts: a buy decision in the matrix → one signed alert to webhook's alert endpoint.

sighook never places orders; entries reach webhook through the same alert schema TradingView uses,
so they take one path through risk checks and idempotency. The alert `id`
(`sighook:{product_id}:{candle time}`) is webhook's dedup key, so retries are safe; a local memory
of what was sent keeps a repeated cycle from even re-sending.

`plan_entries` is pure; `EntryAlerter` is the shell (reads blockers from the database, POSTs).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.enums import TERMINAL_STATUSES, AlertStatus, Side
from core.logging import get_logger
from core.money import fmt
from core.settings import Settings
from shared_data import direct
from sighook.matrix import BuySellMatrix, MatrixRow, rfc3339
from sighook.rules import Decision

if TYPE_CHECKING:
    import aiohttp

log = get_logger(__name__)

ALERT_SOURCE = "sighook"
SentKey = tuple[str, datetime]  # (product_id, candle time)


def alert_id(product_id: str, candle_time: datetime) -> str:
    return f"sighook:{product_id}:{rfc3339(candle_time)}"


@dataclass(frozen=True, slots=True)
class EntryBlockers:
    """What stops entries, as read from webhook's tables."""

    tripped_breakers: tuple[str, ...] = ()
    positions: frozenset[str] = frozenset()  # symbols holding a position (not dust)
    open_buys: frozenset[str] = frozenset()  # symbols with an open BUY order or a pending buy alert


@dataclass(frozen=True, slots=True)
class EntryIntent:
    row: MatrixRow

    @property
    def key(self) -> SentKey:
        return (self.row.product_id, self.row.candle_time)

    @property
    def alert_id(self) -> str:
        return alert_id(self.row.product_id, self.row.candle_time)


@dataclass(frozen=True, slots=True)
class EntryPlan:
    intents: list[EntryIntent]
    skipped: dict[str, str]  # product_id → why a buy row gets no alert


def plan_entries(matrix: BuySellMatrix, blockers: EntryBlockers, sent: Container[SentKey], *,
                 market_now: datetime, max_signal_age_s: float) -> EntryPlan:
    """Which buy rows become alerts now. Pure.

    Skips: everything while a breaker is tripped; symbols with a position or an open buy; rows
    already sent for that candle; rows whose candle ended more than `max_signal_age_s` ago.
    """
    intents: list[EntryIntent] = []
    skipped: dict[str, str] = {}
    buys = sorted((r for r in matrix.rows.values() if r.decision is Decision.BUY), key=lambda r: r.product_id)
    for row in buys:
        pid = row.product_id
        if blockers.tripped_breakers:
            skipped[pid] = "breaker_tripped"
        elif (row.product_id, row.candle_time) in sent:
            skipped[pid] = "already_sent"
        elif pid in blockers.positions:
            skipped[pid] = "has_position"
        elif pid in blockers.open_buys:
            skipped[pid] = "open_buy"
        elif (market_now - row.as_of).total_seconds() > max_signal_age_s:
            skipped[pid] = "stale_candle"
        else:
            intents.append(EntryIntent(row))
    return EntryPlan(intents, skipped)


def alert_body(intent: EntryIntent, secret: str, sent_at: datetime) -> dict[str, Any]:
    """The alert, in the shared TradingView/sighook schema (amounts as strings)."""
    row = intent.row
    return {
        "secret": secret,
        "id": intent.alert_id,
        "source": ALERT_SOURCE,
        "ticker": row.product_id,
        "action": "buy",
        "price": fmt(row.close),
        "time": rfc3339(sent_at.replace(microsecond=0)),
        "strategy": {
            "candle_time": rfc3339(row.candle_time),
            "score": fmt(row.score.quantize(Decimal("0.0001"))),
            "votes": dict(row.votes),
            "atr": fmt(row.atr),
            "atr_pct": fmt(row.atr_pct),
        },
    }


def webhook_url(settings: Settings) -> str:
    if settings.sighook_webhook_url:
        return settings.sighook_webhook_url
    host = settings.webhook_host
    if host in ("0.0.0.0", "::", ""):  # a wildcard bind address is not a destination
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.webhook_port}/webhook"


# ---- database reads ----------------------------------------------------------------------------


def _in_list(values: Iterable[str]) -> str:
    # Our own enum constants, sorted so the text (and the server's cached plan) is the same every run.
    return ", ".join(f"'{v}'" for v in sorted(values))


_TERMINAL = _in_list(s.value for s in TERMINAL_STATUSES)
# The five reads as one statement (one round trip, one snapshot): rows of (kind, symbol or breaker, rank).
# Sent straight to the driver (shared_data.direct): the planner reads it on every cycle with buys.
_BLOCKERS = (
    # rank: the breakers in the database's own order of their names
    "SELECT 'breaker'::varchar AS kind, breaker AS name, row_number() OVER (ORDER BY breaker) AS rank "
    "FROM risk_state WHERE tripped IS true "
    # The one position definition (core/position_rule.py as SQL): dust left by an exit is no position.
    "UNION ALL SELECT 'position', symbol, 0 FROM fills GROUP BY symbol "
    f"HAVING bt_is_position(symbol, sum(CASE WHEN side = '{Side.BUY.value}' THEN size ELSE -size END)) "
    f"UNION ALL SELECT 'open_buy', symbol, 0 FROM passive_orders WHERE side = '{Side.BUY.value}' "
    f"AND status NOT IN ({_TERMINAL}) "
    f"UNION ALL SELECT 'open_buy', symbol, 0 FROM trade_records WHERE side = '{Side.BUY.value}' "
    f"AND status NOT IN ({_TERMINAL}) "
    # An accepted buy alert not yet turned into an order is an open buy too.
    f"UNION ALL SELECT 'open_buy', symbol, 0 FROM alerts WHERE action = 'buy' "
    f"AND status = '{AlertStatus.ACCEPTED.value}' AND symbol IS NOT NULL"
)


async def read_blockers(sessions: async_sessionmaker[AsyncSession]) -> EntryBlockers:
    """Breakers, positions (net filled size from fills), open buys (orders and pending buy alerts): one
    statement standing alone, on a pooled connection's driver (no ORM session to set up)."""
    return _blockers(await direct.fetch(sessions, _BLOCKERS))


def _blockers(rows: Sequence[Any]) -> EntryBlockers:
    tripped: list[tuple[int, str]] = []
    positions: set[str] = set()
    open_buys: set[str] = set()
    for kind, name, rank in rows:
        if kind == "breaker":
            tripped.append((rank, name))
        elif kind == "position":
            positions.add(name)
        elif name:
            open_buys.add(name)
    return EntryBlockers(tuple(name for _, name in sorted(tripped)), frozenset(positions), frozenset(open_buys))


# ---- the shell ---------------------------------------------------------------------------------


@dataclass(slots=True)
class EntryReport:
    planned: int = 0
    sent: int = 0
    rejected: int = 0  # webhook refused (4xx): not retried for that candle
    failed: int = 0  # transport/5xx after retries: tried again next cycle
    skipped: dict[str, str] = field(default_factory=dict)


class SentMemory:
    """(product, candle time) pairs already delivered; forgets pairs older than `horizon`."""

    def __init__(self, horizon: timedelta = timedelta(days=1)) -> None:
        self._keys: set[SentKey] = set()
        self._horizon = horizon

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: SentKey) -> None:
        self._keys.add(key)

    def prune(self, market_now: datetime) -> None:
        cutoff = market_now - self._horizon
        self._keys = {k for k in self._keys if k[1] >= cutoff}


class EntryAlerter:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], *,
                 url: str | None = None, clock: Clock | None = None, timeout_s: float = 10.0,
                 max_attempts: int = 3, backoff_base_s: float = 0.25, backoff_max_s: float = 2.0,
                 concurrency: int = 4) -> None:
        secrets = settings.webhook_secret_list()
        self._secret = secrets[0] if secrets else ""
        self._sessions = sessions
        self.url = url or webhook_url(settings)
        self._clock = clock or SystemClock()
        self._timeout_s = timeout_s
        self._max_attempts = max(1, max_attempts)
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._concurrency = max(1, concurrency)
        self.memory = SentMemory()
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def run(self, matrix: BuySellMatrix, *, market_now: datetime, max_signal_age_s: float) -> EntryReport:
        """Alert every eligible buy row once. Never raises for one alert's failure."""
        report = EntryReport()
        if not any(r.decision is Decision.BUY for r in matrix.rows.values()):
            return report
        if not self._secret:
            log.error("entry_alerts_no_secret", hint="set WEBHOOK_SECRETS; buy signals are not sent")
            report.skipped = {pid: "no_secret" for pid, r in matrix.rows.items() if r.decision is Decision.BUY}
            return report
        blockers = await read_blockers(self._sessions)
        self.memory.prune(market_now)
        plan = plan_entries(matrix, blockers, self.memory, market_now=market_now, max_signal_age_s=max_signal_age_s)
        report.planned, report.skipped = len(plan.intents), plan.skipped
        if blockers.tripped_breakers:
            log.info("entry_alerts_blocked", breakers=list(blockers.tripped_breakers), buys=len(plan.skipped))
        gate = asyncio.Semaphore(self._concurrency)

        async def one(intent: EntryIntent) -> str:
            async with gate:
                return await self._deliver(intent)

        outcomes = await asyncio.gather(*(one(i) for i in plan.intents))
        for intent, outcome in zip(plan.intents, outcomes, strict=True):
            if outcome in ("sent", "rejected"):
                self.memory.add(intent.key)
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    async def _deliver(self, intent: EntryIntent) -> str:
        """POST with bounded, jittered retries on 5xx/429/transport errors → sent | rejected | failed."""
        import aiohttp  # here, not at the top: the replay plans entries with this class and sends no HTTP

        http = self._http_session()
        for attempt in range(1, self._max_attempts + 1):
            body = alert_body(intent, self._secret, self._clock.now())
            try:
                async with http.post(self.url, json=body) as resp:
                    text = (await resp.text())[:300]
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, text = 0, f"{type(exc).__name__}: {exc}"
            if 200 <= status < 300:
                log.info("entry_alert_sent", alert_id=intent.alert_id, symbol=intent.row.product_id,
                         score=fmt(intent.row.score.quantize(Decimal("0.0001"))), status=status, attempt=attempt)
                return "sent"
            if 400 <= status < 500 and status not in (408, 429):
                log.error("entry_alert_rejected", alert_id=intent.alert_id, status=status, response=text)
                return "rejected"
            log.warning("entry_alert_retry", alert_id=intent.alert_id, status=status, attempt=attempt, error=text)
            if attempt < self._max_attempts:
                delay = min(self._backoff_max_s, self._backoff_base_s * 2 ** (attempt - 1))
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
        log.error("entry_alert_failed", alert_id=intent.alert_id, attempts=self._max_attempts)
        return "failed"

    def _http_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout_s))
        return self._http
