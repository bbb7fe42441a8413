"""The alert value shared by TradingView, plain text and sighook, and the body-level helpers.

Bodies are parsed as JSON whatever the Content-Type: TradingView sends `text/plain` whenever the
expanded message is not valid JSON by its own check. Amounts are Decimal (JSON numbers are read as
Decimal, never float). Parsing is split so the endpoint can check the secret in between:
`decode_body` (bytes → JSON object), then `webhook.alerts.normalise` (object or text → Alert);
`parse_alert` does both for JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from core.clock import format_rfc3339
from webhook.alerts.reasons import Refusal

AlertAction = Literal["buy", "sell", "close"]
AlertSource = Literal["tradingview", "sighook"]
AlertForm = Literal["json", "text"]

# Dedup keys of records that are not alerts (unauthorized, invalid, …) start with this; client ids may not.
REJECTED_KEY_PREFIX = "rej:"
MAX_ID_LENGTH = 128  # alerts.dedup_key is VARCHAR(128)
MAX_AMOUNT = Decimal("1e15")
MIN_EXPONENT = -30  # more than 30 decimal places is not a price or a size

_DECIMAL_TEXT = re.compile(r"^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class BodyError:
    """Why a body is not JSON we can read. `message` never contains input values."""

    kind: Literal["json", "schema"]
    message: str


@dataclass(frozen=True)
class Alert:
    """One alert, whatever form and field names it arrived in (see webhook/alerts/normalise.py).

    `time` is the fire time the staleness window applies to. `problem` is a refusal found in a
    size or price value: it is reported only after the product and staleness checks, so the stored
    reason is the first real cause in the documented check order.
    """

    ticker: str
    action: AlertAction
    time: datetime
    source: AlertSource = "tradingview"
    exchange: str | None = None
    id: str | None = None
    quantity: Decimal | None = None  # base units
    notional: Decimal | None = None  # quote (USD), fees included
    price: Decimal | None = None
    strategy: dict[str, Any] | None = None
    secret: str | None = None
    form: AlertForm = "json"
    time_field: str = "time"  # the key the fire time came from ("received" for plain text without one)
    bar_time: datetime | None = None
    id_from_strategy: bool = False  # the id is {{strategy.order.id}}, not a per-firing id
    problem: Refusal | None = field(default=None, compare=False)

    @property
    def notional_estimate(self) -> Decimal | None:
        """The order's USD value when the alert says it: notional, or quantity × price."""
        if self.notional is not None:
            return self.notional
        if self.quantity is not None and self.price is not None:
            return self.quantity * self.price
        return None


def parse_amount(value: Any) -> Decimal | None:
    """A positive, finite, reasonably sized Decimal from a JSON string or number; "" means absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError("must be a decimal number in a string")
    if isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_TEXT.match(text):
            raise ValueError("must be a positive decimal number")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError("must be a positive decimal number") from None
    amount = Decimal(value)
    if not amount.is_finite() or amount <= 0:
        raise ValueError("must be a positive decimal number")
    if amount > MAX_AMOUNT:
        raise ValueError("is too large")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < MIN_EXPONENT:
        raise ValueError("has too many decimal places")
    return amount


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def decode_body(raw: bytes) -> dict[str, Any] | BodyError:
    """The body as a JSON object, whatever the Content-Type said."""
    try:
        obj = json.loads(raw.decode("utf-8-sig"), parse_float=Decimal, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return BodyError("json", "body is not valid JSON (check that placeholders are quoted)")
    if not isinstance(obj, dict):
        return BodyError("json", "body must be a JSON object")
    if not _storable(obj):
        # PostgreSQL text/JSONB cannot hold NUL or unpaired surrogates; refuse them here, not at insert.
        return BodyError("json", "body contains NUL characters or invalid unicode")
    return obj


def _storable(obj: Any) -> bool:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, val in item.items():
                if not _storable_text(key):
                    return False
                stack.append(val)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and not _storable_text(item):
            return False
    return True


def _storable_text(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_alert(raw: bytes) -> Alert | BodyError:
    """Bytes → Alert (JSON form), whatever the Content-Type. Does not check the secret or the symbol."""
    from webhook.alerts.normalise import normalise_json

    obj = decode_body(raw)
    if isinstance(obj, BodyError):
        return obj
    alert = normalise_json(obj)
    return alert if isinstance(alert, Alert) else BodyError("schema", alert.message)


def dedup_key(alert: Alert, symbol: str, body_sha: str | None = None) -> str:
    """The client id when given, else sha256 of source|symbol|action|fire time|body hash.

    Without an id the raw body's hash is part of the key (TradingView resends are byte-identical;
    two different alerts on one symbol in the same second are not). An id taken from
    `strategy.order.id` names the order ("Long"), not the firing: it is combined with the fire time,
    so the strategy's next entry is not mistaken for a resend.
    """
    if alert.id is not None:
        if alert.id_from_strategy:
            key = f"{alert.id}@{format_rfc3339(alert.time)}"
            return key if len(key) <= MAX_ID_LENGTH else "sid:" + hashlib.sha256(key.encode()).hexdigest()
        return alert.id
    parts = [alert.source, symbol, alert.action, format_rfc3339(alert.time)]
    if body_sha is not None:
        parts.append(body_sha)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def body_sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
