"""Why an alert was refused: a stable code (stored in `alerts.reason_code`, returned as `reason`)
plus a human sentence (stored in `status_reason`, returned as `error`).

Codes are part of the user-facing contract (README "Refusal reasons"): never rename one, add new.
Sentences name fields, never echo input values (a value may hold the secret).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.enums import AlertStatus


class Reason(StrEnum):
    # Before authentication (no details returned to the caller).
    IP_NOT_ALLOWED = "ip_not_allowed"
    BODY_TOO_LARGE = "body_too_large"
    BODY_READ_TIMEOUT = "body_read_timeout"
    BAD_SECRET = "bad_secret"
    MISSING_SECRET = "missing_secret"
    # Parsing: the message is not an alert we can read.
    NOT_JSON = "not_json"
    BAD_TEXT = "bad_text"
    MISSING_FIELD = "missing_field"
    UNFILLED_PLACEHOLDER = "unfilled_placeholder"
    BAD_VALUE = "bad_value"
    UNSUPPORTED_ACTION = "unsupported_action"
    # What it asks for.
    UNKNOWN_PRODUCT = "unknown_product"
    STALE = "stale"
    FUTURE = "future"
    BAD_SIZE = "bad_size"
    BAD_PRICE = "bad_price"
    RATE_LIMITED = "rate_limited"
    DUPLICATE = "duplicate"
    # Limits (at the endpoint when the alert states its value, else when sized from the live quote).
    NO_QUOTE = "no_quote"
    PRICE_DEVIATION = "price_deviation"
    OVER_ORDER_CAP = "over_order_cap"
    OVER_POSITION_CAP = "over_position_cap"
    SIZE_TOO_SMALL = "size_too_small"
    NO_ACCOUNT_VALUE = "no_account_value"
    BREAKER_TRIPPED = "breaker_tripped"
    DEGRADED_MODE = "degraded_mode"  # the exchange is failing (risk/degraded): no new entries
    FILLS_UNRECORDED = "fills_unrecorded"  # the product has dead-lettered fills (`fills retry`)
    RED_DAY = "red_day"  # ALLOW_BUYS_ON_RED_DAY=false and a negative 24 h change (risk/momentum.py)
    # After checks.
    NO_POSITION = "no_position"
    ORDER_FAILED = "order_failed"
    QUEUED_TOO_LONG = "queued_too_long"
    EXECUTOR_ERROR = "executor_error"


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refusal: what is stored on the alert row and answered to the sender."""

    code: Reason
    message: str
    field: str | None = None  # the alert field at fault, when there is one

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 422)

    @property
    def status(self) -> AlertStatus:
        return STATUS.get(self.code, AlertStatus.INVALID)


HTTP_STATUS: dict[Reason, int] = {
    Reason.IP_NOT_ALLOWED: 403, Reason.BODY_TOO_LARGE: 413, Reason.BODY_READ_TIMEOUT: 408,
    Reason.BAD_SECRET: 401, Reason.MISSING_SECRET: 401, Reason.NOT_JSON: 400, Reason.BAD_TEXT: 400,
    Reason.RATE_LIMITED: 429, Reason.DUPLICATE: 200,
}

STATUS: dict[Reason, AlertStatus] = {
    Reason.IP_NOT_ALLOWED: AlertStatus.UNAUTHORIZED, Reason.BAD_SECRET: AlertStatus.UNAUTHORIZED,
    Reason.MISSING_SECRET: AlertStatus.UNAUTHORIZED, Reason.STALE: AlertStatus.STALE,
    Reason.FUTURE: AlertStatus.STALE, Reason.RATE_LIMITED: AlertStatus.RATE_LIMITED,
    Reason.DUPLICATE: AlertStatus.DUPLICATE, Reason.QUEUED_TOO_LONG: AlertStatus.STALE,
    Reason.NO_QUOTE: AlertStatus.REJECTED_RISK, Reason.PRICE_DEVIATION: AlertStatus.REJECTED_RISK,
    Reason.OVER_ORDER_CAP: AlertStatus.REJECTED_RISK, Reason.OVER_POSITION_CAP: AlertStatus.REJECTED_RISK,
    Reason.SIZE_TOO_SMALL: AlertStatus.REJECTED_RISK, Reason.NO_ACCOUNT_VALUE: AlertStatus.REJECTED_RISK,
    Reason.BREAKER_TRIPPED: AlertStatus.REJECTED_RISK, Reason.NO_POSITION: AlertStatus.FAILED,
    Reason.ORDER_FAILED: AlertStatus.FAILED, Reason.EXECUTOR_ERROR: AlertStatus.FAILED,
}
