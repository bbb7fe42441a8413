"""POST /webhook and /webhook/{secret}: authenticate, validate, store, answer — never trade here.

Order of checks: source IP allow list (403) → body size (413, before parsing) → secret in the path
(401) → JSON (400) → secret in the body (401) → schema and symbol (422) → rate limit (429) →
staleness (422 stale) and notional cap (422 rejected_risk) → insert under the dedup key (200
accepted / 200 duplicate). Only a failed insert answers 5xx (503), so TradingView resends exactly
when the alert was not stored. The raw body, the path and the secret are never logged.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from aiohttp import web

from core.enums import AlertStatus
from core.logging import get_logger
from core.metrics import ALERTS
from webhook.alerts.admission import AdmissionPolicy, admit
from webhook.alerts.inbox import AlertInbox
from webhook.alerts.limits import TokenBucketLimiter
from webhook.alerts.masking import PayloadMasker
from webhook.alerts.repository import UNKNOWN_SOURCE, AlertRecord, rejected_key
from webhook.alerts.schema import Alert, BodyError, body_sha256, decode_body, dedup_key, validate_alert
from webhook.http.client_ip import (
    FORWARDING_HEADERS,
    in_networks,
    is_direct_loopback,
    parse_networks,
    resolve_client_ip,
)
from webhook.http.deps import HttpDeps

log = get_logger(__name__)

STORE_FAILED = "store_failed"  # metric label of a 503


# Label children resolved once: `labels()` takes a lock and a dict lookup on every call.
_OUTCOME_COUNTERS = {outcome: ALERTS.labels(outcome=outcome) for outcome in [*AlertStatus, STORE_FAILED]}


def _count(outcome: str) -> None:
    _OUTCOME_COUNTERS[outcome].inc()


class _TooLarge(Exception):
    pass


class AlertEndpoint:
    def __init__(self, deps: HttpDeps) -> None:
        s = deps.settings
        self._deps = deps
        self._secrets = tuple(secret.encode() for secret in s.webhook_secret_list())
        self._allowed = parse_networks(s.webhook_allowed_ips, "WEBHOOK_ALLOWED_IPS")
        self._trusted = parse_networks(s.webhook_trusted_proxies, "WEBHOOK_TRUSTED_PROXIES")
        self._max_body = s.alert_max_body_bytes
        self._policy = AdmissionPolicy.from_settings(s)
        self._limiter = TokenBucketLimiter(s.alert_rate_limit_per_min)
        self._masker = PayloadMasker(s.webhook_secret_list())
        self._inbox = AlertInbox(deps.sessions)
        if not self._secrets:
            log.warning("webhook_no_secrets_configured", detail="every alert will be refused with 401")

    async def handle(self, request: web.Request) -> web.Response:
        peer = request.remote
        ip = resolve_client_ip(peer, request.headers.getall("X-Forwarded-For", []), self._trusted)
        if self._allowed and not (in_networks(ip, self._allowed) or self._direct_loopback(request)):
            return await self._refuse(ip, 403, AlertStatus.UNAUTHORIZED, None, record_reason="ip_not_allowed")
        if request.content_length is not None and request.content_length > self._max_body:
            return await self._refuse(ip, 413, AlertStatus.INVALID, "body too large", record_reason="body_too_large")
        try:
            raw = await self._read_body(request)
        except _TooLarge:
            return await self._refuse(ip, 413, AlertStatus.INVALID, "body too large", record_reason="body_too_large")
        except TimeoutError:
            return await self._refuse(ip, 408, AlertStatus.INVALID, "body not received in time",
                                      record_reason="body_read_timeout")
        except (ConnectionError, asyncio.IncompleteReadError):
            _count(AlertStatus.INVALID.value)  # the client left mid-body; nothing to record, likely nobody to answer
            return _reply(400, AlertStatus.INVALID.value, "body incomplete")

        path_secret = request.match_info.get("secret")
        if path_secret is not None and not self._secret_ok(path_secret):
            return await self._refuse(ip, 401, AlertStatus.UNAUTHORIZED, None, record_reason="bad_secret_in_path",
                                      raw=raw)
        obj = decode_body(raw)
        if isinstance(obj, BodyError):
            # Details only for a caller that proved it knows a secret.
            shown = obj.message if path_secret is not None else "body is not a valid alert"
            return await self._refuse(ip, 400, AlertStatus.INVALID, shown, record_reason=obj.message, raw=raw)
        body_secret = obj.get("secret")
        # With a path secret the body may omit its own; one given must also be right.
        must_check_body = body_secret is not None or path_secret is None
        if must_check_body and not (isinstance(body_secret, str) and self._secret_ok(body_secret)):
            reason = "missing_secret" if body_secret is None else "bad_secret_in_body"
            return await self._refuse(ip, 401, AlertStatus.UNAUTHORIZED, None, record_reason=reason, raw=raw)

        # Authenticated from here on.
        payload = self._masker.mask(obj)
        alert = validate_alert(obj)
        if isinstance(alert, BodyError):
            return await self._refuse(ip, 422, AlertStatus.INVALID, alert.message, raw=raw, payload=payload)
        symbol = self._deps.symbols.resolve(alert.ticker)
        if symbol is None:
            return await self._refuse(ip, 422, AlertStatus.INVALID, "unknown symbol (not a known Coinbase product)",
                                      raw=raw, payload=payload, alert=alert)
        if not self._limiter.try_acquire(f"{ip}|{alert.source}", self._deps.clock.monotonic()):
            return await self._refuse(ip, 429, AlertStatus.RATE_LIMITED, "too many alerts from this source",
                                      raw=raw, payload=payload, alert=alert, symbol=symbol)
        return await self._store(ip, raw, payload, alert, symbol)

    async def _store(self, ip: str, raw: bytes, payload: dict[str, Any], alert: Alert, symbol: str) -> web.Response:
        deps = self._deps
        now = deps.clock.now()
        admission = admit(alert, now, self._policy)
        key = dedup_key(alert, symbol)
        record = AlertRecord(
            dedup_key=key, source=alert.source, status=admission.status, received_at=now, symbol=symbol,
            action=alert.action, quantity=alert.quantity, notional=alert.notional, price=alert.price,
            timenow=alert.time, strategy=payload.get("strategy") if alert.strategy is not None else None,
            payload=payload, body_sha256=body_sha256(raw), source_ip=ip, status_reason=admission.reason,
        )
        try:
            async with asyncio.timeout(deps.store_timeout_s):
                alert_id = await self._inbox.store(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _count(STORE_FAILED)
            log.error("alert_store_failed", error=type(exc).__name__, ip=ip, symbol=symbol, action=alert.action)
            return _reply(503, "error", "the alert could not be stored; retry")
        if alert_id is None:
            _count(AlertStatus.DUPLICATE.value)
            await self._record(ip, AlertStatus.DUPLICATE, f"duplicate of dedup key {key}", raw=raw,
                               payload=payload, alert=alert, symbol=symbol)
            return _reply(200, "duplicate", None)
        _count(admission.status.value)
        log.info("alert_stored", alert_id=alert_id, status=admission.status.value, source=alert.source,
                 symbol=symbol, action=alert.action, ip=ip, reason=admission.reason)
        if admission.status is not AlertStatus.ACCEPTED:
            return _reply(422, admission.status.value, admission.reason)
        try:
            deps.wake()
        except Exception as exc:  # the worker also polls; a failed wake-up only delays the order
            log.warning("alert_worker_wake_failed", error=type(exc).__name__)
        return web.json_response({"result": "accepted", "alert_id": alert_id})

    @property
    def inbox(self) -> AlertInbox:
        return self._inbox

    async def close(self) -> None:
        await self._inbox.close()

    async def _read_body(self, request: web.Request) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(self._deps.body_read_timeout_s):
            if request.content_length is not None:  # already checked against the cap
                return await request.content.readexactly(request.content_length) if request.content_length else b""
            async for chunk in request.content.iter_any():
                size += len(chunk)
                if size > self._max_body:
                    raise _TooLarge
                chunks.append(chunk)
        return b"".join(chunks)

    def _secret_ok(self, candidate: str) -> bool:
        given = candidate.encode("utf-8", "surrogatepass")
        ok = False
        for secret in self._secrets:  # no early exit: every configured secret is compared
            ok |= hmac.compare_digest(given, secret)
        return ok

    def _direct_loopback(self, request: web.Request) -> bool:
        forwarded = any(h in request.headers for h in FORWARDING_HEADERS)
        return is_direct_loopback(request.remote, forwarded, self._trusted)

    async def _refuse(self, ip: str, http_status: int, status: AlertStatus, shown: str | None, *,
                      record_reason: str | None = None, raw: bytes | None = None,
                      payload: dict[str, Any] | None = None, alert: Alert | None = None,
                      symbol: str | None = None) -> web.Response:
        _count(status.value)
        reason = record_reason or shown
        await self._record(ip, status, reason, raw=raw, payload=payload, alert=alert, symbol=symbol)
        return _reply(http_status, status.value, shown)

    async def _record(self, ip: str, status: AlertStatus, reason: str | None, *, raw: bytes | None,
                      payload: dict[str, Any] | None, alert: Alert | None, symbol: str | None) -> None:
        """Keep a row for a request that is not a new alert, within the per-minute budget."""
        deps = self._deps
        if not deps.record_budget.allow(ip, deps.clock.monotonic()):
            return
        log.info("alert_refused", status=status.value, reason=reason, ip=ip)
        record = AlertRecord(
            dedup_key=rejected_key(), source=alert.source if alert else UNKNOWN_SOURCE, status=status,
            received_at=deps.clock.now(), symbol=symbol, action=alert.action if alert else None,
            quantity=alert.quantity if alert else None, notional=alert.notional if alert else None,
            price=alert.price if alert else None, timenow=alert.time if alert else None,
            payload=payload, body_sha256=body_sha256(raw) if raw is not None else None, source_ip=ip,
            status_reason=reason,
        )
        try:
            async with asyncio.timeout(deps.store_timeout_s):
                await self._inbox.store(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # losing the record of a refused request never changes the reply
            log.warning("alert_refusal_record_failed", error=type(exc).__name__)


def _reply(http_status: int, result: str, error: str | None) -> web.Response:
    body: dict[str, Any] = {"result": result}
    if error:
        body["error"] = error
    return web.json_response(body, status=http_status)
