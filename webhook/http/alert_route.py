"""POST /webhook and /webhook/{secret}: authenticate, normalise, store, answer — never trade here.

Order of checks: source IP allow list (403) → body size (413, before parsing) → secret in the path
(401) → JSON, or plain text when the secret is in the path (400) → secret in the body (401) →
normalise (422: missing field, unfilled placeholder, bad value, short) → product (422) → rate limit
(429) → staleness (422 stale) → size values (422) → the alert's own value over the order cap (422
rejected_risk) → insert under the dedup key (200 accepted / 200 duplicate). Every refusal is
stored with its reason code (webhook/alerts/reasons.py) and answered as `{"result", "reason",
"error"}`. Only a failed insert answers 5xx (503), so TradingView resends exactly when the alert
was not stored. The raw body, the path and the secret are never logged.
"""

from __future__ import annotations

import asyncio
import hmac
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from core.enums import AlertStatus
from core.logging import get_logger
from core.metrics import ALERTS
from webhook.alerts.admission import AdmissionPolicy, admit
from webhook.alerts.inbox import AlertInbox
from webhook.alerts.limits import TokenBucketLimiter
from webhook.alerts.masking import PayloadMasker
from webhook.alerts.normalise import Fields, normalise_json, secret_in
from webhook.alerts.plain_text import PLAIN_TEXT_RESEND_WINDOW_S, looks_like_text, parse_text
from webhook.alerts.reasons import Reason, Refusal
from webhook.alerts.repository import UNKNOWN_SOURCE, AlertRecord, rejected_key, resent_text_exists
from webhook.alerts.schema import Alert, BodyError, body_sha256, decode_body, dedup_key
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
            return await self._refuse(ip, Refusal(Reason.IP_NOT_ALLOWED, "source address not allowed"), shown=False)
        too_large = Refusal(Reason.BODY_TOO_LARGE, "body too large")
        if request.content_length is not None and request.content_length > self._max_body:
            return await self._refuse(ip, too_large)
        try:
            raw = await self._read_body(request)
        except _TooLarge:
            return await self._refuse(ip, too_large)
        except TimeoutError:
            return await self._refuse(ip, Refusal(Reason.BODY_READ_TIMEOUT, "body not received in time"))
        except (ConnectionError, asyncio.IncompleteReadError):
            _count(AlertStatus.INVALID.value)  # the client left mid-body; nothing to record, likely nobody to answer
            return _reply(400, AlertStatus.INVALID.value, "body incomplete", Reason.NOT_JSON)

        # 1. secret (path), 2. parse (and the body's secret), 3. product, 4. staleness, 5. size, 6. limits.
        path_secret = request.match_info.get("secret")
        if path_secret is not None and not self._secret_ok(path_secret):
            return await self._refuse(ip, Refusal(Reason.BAD_SECRET, "bad secret in the URL path"), shown=False,
                                      raw=raw)
        obj = decode_body(raw)
        if isinstance(obj, BodyError):
            if path_secret is not None and looks_like_text(raw):
                parsed = parse_text(raw, self._deps.clock.now())
                text = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")  # storable in JSONB
                payload: dict[str, Any] = {"text": self._masker.mask({"text": text})["text"]}
                if isinstance(parsed, Refusal):
                    return await self._refuse(ip, parsed, raw=raw, payload=payload)
                return await self._admit(ip, raw, payload, parsed)
            # Details only for a caller that proved it knows a secret.
            refusal = Refusal(Reason.NOT_JSON, obj.message)
            return await self._refuse(ip, refusal, shown=path_secret is not None, raw=raw)
        fields = Fields(obj)
        body_secret = secret_in(fields)
        # With a path secret the body may omit its own; one given must also be right.
        must_check_body = body_secret is not None or path_secret is None
        if must_check_body and not (body_secret is not None and isinstance(body_secret[1], str)
                                    and self._secret_ok(body_secret[1])):
            refusal = (Refusal(Reason.MISSING_SECRET, "no secret in the body or the URL path") if body_secret is None
                       else Refusal(Reason.BAD_SECRET, f"bad secret in the body ({body_secret[0]})"))
            return await self._refuse(ip, refusal, shown=False, raw=raw)

        # Authenticated from here on.
        payload = self._masker.mask(obj)
        alert = normalise_json(obj, fields)
        if isinstance(alert, Refusal):
            return await self._refuse(ip, alert, raw=raw, payload=payload)
        return await self._admit(ip, raw, payload, alert)

    async def _admit(self, ip: str, raw: bytes, payload: dict[str, Any], alert: Alert) -> web.Response:
        symbol = self._deps.symbols.resolve(alert.ticker)
        if symbol is None:
            return await self._refuse(ip, Refusal(Reason.UNKNOWN_PRODUCT, "the symbol is not a Coinbase product this "
                                                  "daemon trades (check the ticker and PRODUCT_ALLOW_LIST)", "ticker"),
                                      raw=raw, payload=payload, alert=alert)
        if not self._limiter.try_acquire(f"{ip}|{alert.source}", self._deps.clock.monotonic()):
            return await self._refuse(ip, Refusal(Reason.RATE_LIMITED, "too many alerts from this source"),
                                      raw=raw, payload=payload, alert=alert, symbol=symbol)
        if alert.form == "text" and alert.time_field == "received" and await self._text_resent(raw):
            _count(AlertStatus.DUPLICATE.value)
            await self._record(ip, Refusal(Reason.DUPLICATE, "the same plain-text message arrived within "
                                           f"{PLAIN_TEXT_RESEND_WINDOW_S:g} s: a resend"),
                               raw=raw, payload=payload, alert=alert, symbol=symbol)
            return _reply(200, "duplicate", None, Reason.DUPLICATE)
        return await self._store(ip, raw, payload, alert, symbol)

    async def _text_resent(self, raw: bytes) -> bool:
        since = self._deps.clock.now() - timedelta(seconds=PLAIN_TEXT_RESEND_WINDOW_S)
        async with asyncio.timeout(self._deps.store_timeout_s), self._deps.sessions() as session:
            return await resent_text_exists(session, body_sha256(raw), since)

    async def _store(self, ip: str, raw: bytes, payload: dict[str, Any], alert: Alert, symbol: str) -> web.Response:
        deps = self._deps
        now = deps.clock.now()
        refusal = admit(alert, now, self._policy)
        status = AlertStatus.ACCEPTED if refusal is None else refusal.status
        # A refused alert is stored under its own dedup key too: its resends are duplicates, not new rows.
        key = dedup_key(alert, symbol, body_sha256(raw))
        record = self._record_of(ip, status, refusal, raw=raw, payload=payload, alert=alert, symbol=symbol,
                                 key=key, now=now)
        try:
            async with asyncio.timeout(deps.store_timeout_s):
                alert_id = await self._inbox.store(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _count(STORE_FAILED)
            log.error("alert_store_failed", error=type(exc).__name__, ip=ip, symbol=symbol, action=alert.action)
            return _reply(503, "error", "the alert could not be stored; retry", None)
        if alert_id is None:
            _count(AlertStatus.DUPLICATE.value)
            await self._record(ip, Refusal(Reason.DUPLICATE, f"duplicate of dedup key {key}"), raw=raw,
                               payload=payload, alert=alert, symbol=symbol)
            return _reply(200, "duplicate", None, Reason.DUPLICATE)
        _count(status.value)
        log.info("alert_stored", alert_id=alert_id, status=status.value, source=alert.source, form=alert.form,
                 symbol=symbol, action=alert.action, ip=ip, reason=refusal.code.value if refusal else None)
        if refusal is not None:
            return _reply(refusal.http_status, status.value, refusal.message, refusal.code)
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

    async def _refuse(self, ip: str, refusal: Refusal, *, shown: bool = True, raw: bytes | None = None,
                      payload: dict[str, Any] | None = None, alert: Alert | None = None,
                      symbol: str | None = None) -> web.Response:
        """Record and answer a refusal. `shown=False` (before authentication): the code is returned,
        the sentence only stored."""
        status = refusal.status
        _count(status.value)
        await self._record(ip, refusal, raw=raw, payload=payload, alert=alert, symbol=symbol)
        message = refusal.message if shown else ("body is not a valid alert" if refusal.code is Reason.NOT_JSON
                                                 else None)
        return _reply(refusal.http_status, status.value, message, refusal.code)

    async def _record(self, ip: str, refusal: Refusal, *, raw: bytes | None, payload: dict[str, Any] | None,
                      alert: Alert | None, symbol: str | None) -> None:
        """Keep a row for a request that is not a new alert, within the per-minute budget."""
        deps = self._deps
        if not deps.record_budget.allow(ip, deps.clock.monotonic()):
            return
        log.info("alert_refused", status=refusal.status.value, reason=refusal.code.value, field=refusal.field, ip=ip)
        record = self._record_of(ip, refusal.status, refusal, raw=raw, payload=payload, alert=alert, symbol=symbol,
                                 key=rejected_key(), now=deps.clock.now())
        try:
            async with asyncio.timeout(deps.store_timeout_s):
                await self._inbox.store(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # losing the record of a refused request never changes the reply
            log.warning("alert_refusal_record_failed", error=type(exc).__name__)

    @staticmethod
    def _record_of(ip: str, status: AlertStatus, refusal: Refusal | None, *, raw: bytes | None,
                   payload: dict[str, Any] | None, alert: Alert | None, symbol: str | None, key: str,
                   now: datetime) -> AlertRecord:
        return AlertRecord(
            dedup_key=key, source=alert.source if alert else UNKNOWN_SOURCE, status=status, received_at=now,
            symbol=symbol, action=alert.action if alert else None, quantity=alert.quantity if alert else None,
            notional=alert.notional if alert else None, price=alert.price if alert else None,
            timenow=alert.time if alert else None,
            strategy=payload.get("strategy") if alert is not None and alert.strategy is not None and payload else None,
            payload=payload, body_sha256=body_sha256(raw) if raw is not None else None, source_ip=ip,
            status_reason=refusal.message if refusal else None, reason_code=refusal.code.value if refusal else None,
        )


def _reply(http_status: int, result: str, error: str | None, reason: Reason | None) -> web.Response:
    body: dict[str, Any] = {"result": result}
    if reason is not None and reason is not Reason.DUPLICATE:
        body["reason"] = reason.value
    if error:
        body["error"] = error
    return web.json_response(body, status=http_status)
