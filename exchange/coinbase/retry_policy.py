"""What to do after a failed REST call: pure decisions over values (no I/O, no clock reads).

The adapter classifies each failure once (`Failure`), then asks `next_step` whether to retry and
after how long. Backoff is "full jitter" exponential: the random draw is passed in so tests can pin it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from exchange.port import (
    ExchangeAuthError,
    ExchangeBadRequest,
    ExchangeError,
    ExchangeNotFound,
    ExchangeUnavailable,
)

# Values of x-ratelimit-reset above this are an epoch timestamp, below it a number of seconds.
_EPOCH_THRESHOLD = 1_000_000_000


class FailureCause(StrEnum):
    """Closed set; also the `cause` label of REST_RETRIES / REST_FAILURES."""

    RATE_LIMITED = "429"
    SERVER = "5xx"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    UNAUTHORIZED = "401"
    FORBIDDEN = "403"
    NOT_FOUND = "404"
    BAD_REQUEST = "4xx"
    INVALID_RESPONSE = "invalid_response"  # 2xx that is not JSON / not parseable by the SDK
    CLIENT = "client"  # the SDK refused before sending (e.g. no key for a private endpoint)


_TRANSIENT = frozenset(
    {FailureCause.RATE_LIMITED, FailureCause.SERVER, FailureCause.TIMEOUT, FailureCause.CONNECTION,
     FailureCause.INVALID_RESPONSE}
)


@dataclass(frozen=True, slots=True)
class Failure:
    cause: FailureCause
    message: str
    status: int | None = None
    retry_after_s: float | None = None  # from x-ratelimit-reset on a 429

    @property
    def transient(self) -> bool:
        return self.cause in _TRANSIENT


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 4
    backoff_base_s: float = 0.25
    backoff_max_s: float = 8.0
    auth_retries: int = 1  # a 401 is retried this many times with a fresh token


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay_s: float = 0.0
    error: ExchangeError | None = None  # set when retry is False


def backoff_delay(attempt: int, base_s: float, max_s: float, draw: float) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(max, base·2^attempt)]; draw ∈ [0, 1)."""
    ceiling = min(max_s, base_s * (2 ** min(attempt, 30)))
    return max(0.0, min(1.0, draw)) * ceiling


def parse_ratelimit_reset(value: str | None, now_epoch_s: float) -> float | None:
    """Seconds to wait from an x-ratelimit-reset header (epoch seconds or a delay); None if unusable."""
    if value is None:
        return None
    try:
        number = float(str(value).strip())  # a header, not money: float is fine here
    except ValueError:
        return None
    if number != number or number < 0:  # NaN or negative
        return None
    delay = number - now_epoch_s if number >= _EPOCH_THRESHOLD else number
    return max(0.0, delay)


def classify_http(status: int, body: str, headers: Mapping[str, str], now_epoch_s: float) -> Failure:
    """An HTTP error response → Failure. Bodies may be JSON, plain text (`Unauthorized`) or HTML."""
    snippet = " ".join(body.split())[:200]
    if status == 429:
        reset = parse_ratelimit_reset(_header(headers, "x-ratelimit-reset"), now_epoch_s)
        return Failure(FailureCause.RATE_LIMITED, f"429 rate limited: {snippet}", status, reset)
    if status >= 500:
        return Failure(FailureCause.SERVER, f"{status} server error: {snippet}", status)
    if status == 401:
        return Failure(FailureCause.UNAUTHORIZED, f"401 unauthorized: {snippet}", status)
    if status == 403:
        return Failure(FailureCause.FORBIDDEN, f"403 forbidden: {snippet}", status)
    if status == 404:
        return Failure(FailureCause.NOT_FOUND, f"404 not found: {snippet}", status)
    return Failure(FailureCause.BAD_REQUEST, f"{status} bad request: {snippet}", status)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # requests' CaseInsensitiveDict handles this already; plain dicts may not
        for key, val in headers.items():
            if key.lower() == name:
                return val
    return value


def next_step(failure: Failure, attempt: int, auth_attempts: int, policy: RetryPolicy, draw: float) -> RetryDecision:
    """Retry or give up. `attempt` counts transient retries so far, `auth_attempts` 401 retries so far."""
    if failure.cause is FailureCause.UNAUTHORIZED:
        if auth_attempts < policy.auth_retries:
            return RetryDecision(True, 0.0)  # the SDK signs every request anew: a retry is a fresh token
        return RetryDecision(False, error=ExchangeAuthError(failure.message))
    if failure.transient:
        if attempt >= policy.max_retries:
            return RetryDecision(False, error=ExchangeUnavailable(
                f"{failure.message} (gave up after {attempt} retries)",
                not_processed=failure.cause is FailureCause.RATE_LIMITED))
        delay = backoff_delay(attempt, policy.backoff_base_s, policy.backoff_max_s, draw)
        if failure.retry_after_s is not None:
            delay = max(delay, min(failure.retry_after_s, policy.backoff_max_s))
        return RetryDecision(True, delay)
    return RetryDecision(False, error=error_for(failure))


def error_for(failure: Failure) -> ExchangeError:
    match failure.cause:
        case FailureCause.UNAUTHORIZED | FailureCause.FORBIDDEN | FailureCause.CLIENT:
            return ExchangeAuthError(failure.message)
        case FailureCause.NOT_FOUND:
            return ExchangeNotFound(failure.message)
        case FailureCause.BAD_REQUEST:
            return ExchangeBadRequest(failure.message)
        case _:
            return ExchangeUnavailable(failure.message)
