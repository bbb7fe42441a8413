"""The alert body shared by TradingView and sighook, and its parsing.

Bodies are parsed as JSON whatever the Content-Type: TradingView sends `text/plain` whenever the
expanded message is not valid JSON by its own check. Amounts are Decimal (JSON numbers are read as
Decimal, never float). Parsing is split in two steps so the endpoint can check the secret between
them: `decode_body` (bytes → JSON object) and `validate_alert` (object → Alert); `parse_alert`
does both.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.clock import format_rfc3339, parse_rfc3339

AlertAction = Literal["buy", "sell", "close"]
AlertSource = Literal["tradingview", "sighook"]

# Dedup keys of records that are not alerts (unauthorized, invalid, …) start with this; client ids may not.
REJECTED_KEY_PREFIX = "rej:"
MAX_ID_LENGTH = 128  # alerts.dedup_key is VARCHAR(128)
MAX_AMOUNT = Decimal("1e15")
MIN_EXPONENT = -30  # more than 30 decimal places is not a price or a size

_DECIMAL_TEXT = re.compile(r"^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class BodyError:
    """Why a body is not an acceptable alert. `message` never contains input values."""

    kind: Literal["json", "schema"]
    message: str


class Alert(BaseModel):
    """One alert. `secret` may be absent when the secret is in the URL path."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    secret: str | None = Field(default=None, max_length=512)
    id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    source: AlertSource = "tradingview"
    ticker: str = Field(min_length=1, max_length=40)
    exchange: str | None = Field(default=None, max_length=40)
    action: AlertAction
    quantity: Decimal | None = None
    notional: Decimal | None = None
    price: Decimal | None = None
    time: datetime
    strategy: dict[str, Any] | None = None

    @field_validator("id", "exchange", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        # Placeholders like {{strategy.order.id}} expand to "" outside strategies.
        return None if value == "" else value

    @field_validator("id")
    @classmethod
    def _id_not_reserved(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(REJECTED_KEY_PREFIX):
            raise ValueError(f"id must not start with '{REJECTED_KEY_PREFIX}'")
        return value

    @field_validator("source", "action", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("quantity", "notional", "price", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Decimal | None:
        return parse_amount(value)

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> datetime:
        if not isinstance(value, str) or not _RFC3339.match(value.strip()):
            raise ValueError("time must be an RFC 3339 timestamp with a zone, e.g. 2026-11-21T15:00:00Z")
        try:
            return parse_rfc3339(value)
        except ValueError:
            raise ValueError("time is not a valid date and time") from None

    @model_validator(mode="after")
    def _one_size(self) -> Alert:
        if self.quantity is not None and self.notional is not None:
            raise ValueError("give quantity or notional, not both")
        return self

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


def validate_alert(obj: dict[str, Any]) -> Alert | BodyError:
    try:
        return Alert.model_validate(obj)
    except ValidationError as exc:
        return BodyError("schema", describe_errors(exc))


def parse_alert(raw: bytes) -> Alert | BodyError:
    """Bytes → Alert, whatever the Content-Type. Does not check the secret or the symbol."""
    obj = decode_body(raw)
    return obj if isinstance(obj, BodyError) else validate_alert(obj)


def describe_errors(exc: ValidationError) -> str:
    """Field names and messages only: input values (which may hold the secret) are never echoed."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def dedup_key(alert: Alert, symbol: str) -> str:
    """The client id when given, else sha256 of source|symbol|action|time (time normalised)."""
    if alert.id is not None:
        return alert.id
    basis = "|".join((alert.source, symbol, alert.action, format_rfc3339(alert.time)))
    return hashlib.sha256(basis.encode()).hexdigest()


def body_sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
