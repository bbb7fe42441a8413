"""Fault injection, switchable at run time (Python API and `POST /admin/faults`).

A rule names a fault kind and when it fires: the next `count` checks, with `probability` per
check, during a time window (`start_in_s`, `for_s`), or any combination; a rule with no limit
fires on every check until cleared. The REST and WebSocket layers ask `take(kind, …)` at their
check points (one per request, message, heartbeat or new fill).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# kind → what it does (documented in `GET /admin/faults` and the README).
FAULT_KINDS: dict[str, str] = {
    # REST
    "http_401": "plain-text 'Unauthorized' 401 on a valid JWT (R1)",
    "http_403": "403 missing-scopes JSON (R2)",
    "http_429": "429 rate limit; params body=json|html (R3)",
    "http_5xx": "server error; params status=500|502|503|504, body=json|html (R4)",
    "slow": "delay the response; params delay_s, process=true (order created, then slow) | false (not created) (R5)",
    "reset": "drop the TCP connection; params process=true|false (R6)",
    "fills_lag": "new fills stay invisible on REST for params lag_s seconds (R12)",
    "create_reject": "reject create with params error, preview_failure_reason, message (R8/R9)",
    "create_stuck_pending": "accept create but keep the order PENDING; params for_s (R14)",
    "create_fail": "accept create, then FAIL it with HOLD_FAILURE (R14)",
    "create_odd_payload": "successful create without the legacy top-level order_id/failure_reason (R17)",
    "edit_reject": "refuse /orders/edit with params edit_failure_reason, preview_failure_reason (success:false)",
    "cancel_delay": "cancels linger in CANCEL_QUEUED for params delay_s (fills may still land) (R11)",
    # WebSocket
    "ws_close": "server closes the connection; params code=1000|1001|1011…, reason (W1/W2)",
    "ws_drop": "abrupt TCP drop, no close frame (W2)",
    "ws_stall_heartbeats": "heartbeats are not sent while active; the socket stays open (W3)",
    "ws_stall_all": "no message at all is sent while active (W3)",
    "ws_skip_seq": "skip params skip=1 sequence numbers (W4)",
    "ws_heartbeat_gap": "heartbeat_counter jumps by params skip=1 (W5)",
    "ws_omit_client_id": "envelopes without client_id (W6)",
    "ws_error_frame": "send an envelope-less {'type':'error'} frame; params message (W7)",
    "ws_replay": "each user-channel update is sent twice (W10)",
    "ws_minimal_user": "minimal user-channel order payloads (W12)",
    "ws_unknown_message": "send a message of an unknown channel/type (W14)",
    "ws_refuse": "refuse the WebSocket handshake with HTTP 429 (W15)",
}


@dataclass
class FaultRule:
    id: int
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    count: int | None = None  # fires at most this many more times
    probability: float | None = None
    starts_at: float | None = None  # monotonic seconds
    ends_at: float | None = None
    path: str | None = None  # REST path (after /api/v3/brokerage; trailing * = prefix) or WS path
    method: str | None = None
    fired: int = 0

    def matches(self, path: str | None, method: str | None) -> bool:
        if self.method is not None and method is not None and self.method.upper() != method.upper():
            return False
        if self.path is None or path is None:
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "params": self.params, "count": self.count,
            "probability": self.probability, "path": self.path, "method": self.method, "fired": self.fired,
            "starts_in_s": None if self.starts_at is None else round(self.starts_at - now, 3),
            "ends_in_s": None if self.ends_at is None else round(self.ends_at - now, 3),
        }


class FaultInjector:
    def __init__(self, seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self._rng = random.Random(f"{seed}:faults")
        self._clock = clock
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(self, kind: str, *, count: int | None = None, probability: float | None = None,
            for_s: float | None = None, start_in_s: float | None = None, path: str | None = None,
            method: str | None = None, **params: Any) -> FaultRule:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        if probability is not None and not 0 <= probability <= 1:
            raise ValueError("probability must be between 0 and 1")
        if for_s is not None and for_s <= 0:
            raise ValueError("for_s must be positive")
        now = self._clock()
        starts = now + start_in_s if start_in_s else None
        ends = (starts or now) + for_s if for_s is not None else None
        rule = FaultRule(next(self._ids), kind, dict(params), count, probability, starts, ends, path, method)
        self._rules.append(rule)
        return rule

    def clear(self, kind: str | None = None, rule_id: int | None = None) -> int:
        before = len(self._rules)
        self._rules = [r for r in self._rules
                       if not ((kind is None or r.kind == kind) and (rule_id is None or r.id == rule_id))]
        return before - len(self._rules)

    def take(self, kind: str, path: str | None = None, method: str | None = None) -> FaultRule | None:
        """The rule that fires for this check, if any (consumes one of its count)."""
        if not self._rules:
            return None
        now = self._clock()
        for rule in list(self._rules):
            if rule.kind != kind:
                continue
            if rule.ends_at is not None and now >= rule.ends_at:
                self._rules.remove(rule)
                continue
            if rule.starts_at is not None and now < rule.starts_at:
                continue
            if not rule.matches(path, method):
                continue
            if rule.probability is not None and self._rng.random() >= rule.probability:
                continue
            rule.fired += 1
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self._rules.remove(rule)
            return rule
        return None

    def active(self, kind: str, path: str | None = None) -> bool:
        """Whether an unexpired rule of this kind applies to `path` now (does not consume it)."""
        now = self._clock()
        return any(r.kind == kind and (r.ends_at is None or now < r.ends_at)
                   and (r.starts_at is None or now >= r.starts_at) and r.matches(path, None) for r in self._rules)

    def load(self, rules: list[dict[str, Any]]) -> None:
        """Add rules given as JSON objects (the same shape as POST /admin/faults)."""
        for spec in rules:
            body = dict(spec)
            kind = body.pop("kind")
            params = body.pop("params", {}) or {}
            self.add(kind, **body, **params)

    def rules(self) -> list[dict[str, Any]]:
        now = self._clock()
        return [r.to_json(now) for r in self._rules]
