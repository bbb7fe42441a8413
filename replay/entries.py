"""sighook's entry alerts delivered in-process: the same body, schema, admission, inbox row and worker.

`EntryAlerter.run` (sighook) plans entries from the matrix and the database's blockers; only its
transport is replaced: instead of an HTTP POST, `_deliver` does what webhook's alert endpoint does
after authentication — validate the body, resolve the symbol, admit it (age, notional cap), store
the alert row under its dedup key — and then lets the alert worker execute it (risk checks, sizing,
order manager), exactly as the worker would after being woken.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.enums import AlertStatus
from core.settings import Settings
from shared_data.db import single_statement
from sighook.entry_alerts import (
    EntryAlerter,
    EntryBlockers,
    EntryIntent,
    EntryReport,
    alert_body,
    plan_entries,
    read_blockers,
)
from sighook.matrix import BuySellMatrix
from sighook.rules import Decision
from webhook.alerts.admission import AdmissionPolicy, admit
from webhook.alerts.masking import PayloadMasker
from webhook.alerts.normalise import normalise_json
from webhook.alerts.reasons import Refusal
from webhook.alerts.repository import AlertRecord, insert_alert
from webhook.alerts.schema import body_sha256, dedup_key
from webhook.alerts.symbols import SymbolMap
from webhook.alerts.worker import AlertWorker

REPLAY_SOURCE_IP = "replay"


class InProcessEntryAlerter(EntryAlerter):
    """sighook's EntryAlerter with an in-process transport.

    `ignore_dust`: treat a symbol whose sellable size is zero (webhook's PositionBook rule) as flat for
    entries; either way `dust_blocked` counts the buy rows that dust alone blocked, and the report
    shows it. sighook's `read_blockers` applies the same rule in SQL (`bt_is_position`) from the product
    rules the daemon's wiring records (webhook/trading_core.py, in a replay too), so it should find none.
    """

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], *, clock: Clock,
                 symbols: SymbolMap, worker: AlertWorker, sellable_size: Callable[[str], Decimal],
                 ignore_dust: bool = False, db_generation: Callable[[], object] | None = None) -> None:
        """`db_generation()` changes whenever the replay may have written what `read_blockers` reads
        (orders, fills, alerts, breakers); while it stays the same, the last blockers are reused. Without
        it (the shortcut-free reference run) the blockers are read every time and the worker's queue is
        drained after each alert as the worker loop does."""
        # One alert at a time: concurrent deliveries would interleave by database timing, and the
        # venue's ids (hence the report) would depend on it.
        super().__init__(settings, sessions, url="in-process", clock=clock, concurrency=1)
        self._sellable_size = sellable_size
        self._ignore_dust = ignore_dust
        self.dust_blocked = 0
        self._generation = db_generation
        self._blockers: tuple[object, EntryBlockers] | None = None
        self.blocker_reads = 0
        self._delivered = 0
        self._secret_value = settings.webhook_secret_list()[0]
        self._replay_clock = clock
        self._symbols = symbols
        self._worker = worker
        self._policy = AdmissionPolicy.from_settings(settings)
        self._masker = PayloadMasker(settings.webhook_secret_list())
        self.refused: dict[str, int] = {}

    async def run(self, matrix: BuySellMatrix, *, market_now: datetime, max_signal_age_s: float) -> EntryReport:
        """EntryAlerter.run's steps (sighook/entry_alerts.py), with the dust accounting described above."""
        report = EntryReport()
        if not any(r.decision is Decision.BUY for r in matrix.rows.values()):
            return report
        blockers = await self._load_blockers()
        dust = frozenset(s for s in blockers.positions if self._sellable_size(s) <= 0)
        buys = {pid for pid, r in matrix.rows.items() if r.decision is Decision.BUY}
        self.dust_blocked += len(buys & dust - blockers.open_buys) if not blockers.tripped_breakers else 0
        if self._ignore_dust and dust:
            blockers = replace(blockers, positions=blockers.positions - dust)
        self.memory.prune(market_now)
        plan = plan_entries(matrix, blockers, self.memory, market_now=market_now, max_signal_age_s=max_signal_age_s)
        report.planned, report.skipped = len(plan.intents), plan.skipped
        for intent in plan.intents:
            outcome = await self._deliver(intent)
            if outcome in ("sent", "rejected"):
                self.memory.add(intent.key)
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    async def _load_blockers(self) -> EntryBlockers:
        # Nothing but this replay writes its database, so an unchanged generation means the same rows.
        generation = None if self._generation is None else (self._generation(), self._delivered)
        if generation is not None and self._blockers is not None and self._blockers[0] == generation:
            return self._blockers[1]
        blockers = await read_blockers(self._sessions)
        self.blocker_reads += 1
        if generation is not None:
            self._blockers = (generation, blockers)
        return blockers

    async def _deliver(self, intent: EntryIntent) -> str:
        self._delivered += 1
        now = self._replay_clock.now()
        body = alert_body(intent, self._secret_value, now)
        sha = body_sha256(json.dumps(body, separators=(",", ":")).encode())
        # The endpoint's steps after authentication (webhook/http/alert_route.py): the one normaliser,
        # the product, admission (staleness, size, the alert's own limits), the row under its dedup key.
        alert = normalise_json(body)
        if isinstance(alert, Refusal):
            self._count(alert.code.value)
            return "rejected"
        symbol = self._symbols.resolve(alert.ticker)
        if symbol is None:
            self._count("unknown_product")
            return "rejected"
        refusal = admit(alert, now, self._policy)
        status = AlertStatus.ACCEPTED if refusal is None else refusal.status
        payload = self._masker.mask(body)
        record = AlertRecord(
            dedup_key=dedup_key(alert, symbol, sha), source=alert.source, status=status,
            received_at=now, symbol=symbol, action=alert.action, quantity=alert.quantity, notional=alert.notional,
            price=alert.price, timenow=alert.time,
            strategy=payload.get("strategy") if alert.strategy is not None else None, payload=payload,
            body_sha256=sha, source_ip=REPLAY_SOURCE_IP,
            status_reason=refusal.message if refusal else None, reason_code=refusal.code.value if refusal else None,
        )
        if refusal is None and self._generation is not None:
            # The queue was empty before this alert (every delivery empties it) and nothing else writes
            # alerts: the worker's claim would take exactly this one, so it is stored and executed in one
            # transaction (the claim's read is the insert's RETURNING).
            await self._worker.insert_and_process(record)  # a duplicate key: already stored, the endpoint's 200
            return "sent"
        async with single_statement(self._sessions) as session:
            alert_id = await insert_alert(session, record)
        if alert_id is None:
            return "sent"  # a duplicate: already stored, the endpoint answers 200
        if refusal is not None:
            self._count(refusal.code.value)
            return "rejected"
        while await self._worker.process_one():  # the reference path: the worker's loop, until the queue is empty
            pass
        return "sent"

    def _count(self, what: str) -> None:
        self.refused[what] = self.refused.get(what, 0) + 1
