"""retry_policy and rate_limiter: pure decisions over values."""

from __future__ import annotations

import pytest

from core.clock import ManualClock
from exchange.coinbase.rate_limiter import RateLimiter, TokenBucket
from exchange.coinbase.retry_policy import (
    Failure,
    FailureCause,
    RetryPolicy,
    backoff_delay,
    classify_http,
    next_step,
    parse_ratelimit_reset,
)
from exchange.port import ExchangeAuthError, ExchangeBadRequest, ExchangeNotFound, ExchangeUnavailable

POLICY = RetryPolicy(max_retries=3, backoff_base_s=0.5, backoff_max_s=4.0)
NOW = 1_700_000_000.0


def test_backoff_is_jittered_exponential_and_capped() -> None:
    assert backoff_delay(0, 0.5, 4.0, 0.999999) == pytest.approx(0.5, rel=1e-5)
    assert backoff_delay(2, 0.5, 4.0, 0.5) == pytest.approx(1.0)
    assert backoff_delay(10, 0.5, 4.0, 0.999999) == pytest.approx(4.0, rel=1e-5)
    assert backoff_delay(3, 0.5, 4.0, 0.0) == 0.0
    assert backoff_delay(100, 0.5, 4.0, 0.5) == pytest.approx(2.0)  # huge attempt numbers do not overflow


def test_ratelimit_reset_epoch_or_delta() -> None:
    assert parse_ratelimit_reset(str(int(NOW) + 3), NOW) == pytest.approx(3.0)
    assert parse_ratelimit_reset("2", NOW) == 2.0
    assert parse_ratelimit_reset(str(int(NOW) - 5), NOW) == 0.0
    assert parse_ratelimit_reset(None, NOW) is None
    assert parse_ratelimit_reset("soon", NOW) is None
    assert parse_ratelimit_reset("-1", NOW) is None


def test_classify_http_statuses_and_html_429() -> None:
    html = "<html><body><h1>429 Too Many Requests</h1></body></html>"
    f = classify_http(429, html, {"x-ratelimit-reset": "1", "x-ratelimit-remaining": "0"}, NOW)
    assert f.cause is FailureCause.RATE_LIMITED and f.retry_after_s == 1.0 and "429" in f.message
    assert classify_http(429, "{}", {"X-RateLimit-Reset": "2"}, NOW).retry_after_s == 2.0
    assert classify_http(503, "<html>bad gateway</html>", {}, NOW).cause is FailureCause.SERVER
    assert classify_http(401, "Unauthorized\n", {}, NOW).cause is FailureCause.UNAUTHORIZED
    assert classify_http(403, '{"error":"PERMISSION_DENIED"}', {}, NOW).cause is FailureCause.FORBIDDEN
    assert classify_http(404, '{"error":"NOT_FOUND"}', {}, NOW).cause is FailureCause.NOT_FOUND
    assert classify_http(400, '{"error":"INVALID_ARGUMENT"}', {}, NOW).cause is FailureCause.BAD_REQUEST


def test_transient_failures_retry_until_budget_then_unavailable() -> None:
    f = Failure(FailureCause.SERVER, "500")
    for attempt in range(3):
        d = next_step(f, attempt, 0, POLICY, 0.5)
        assert d.retry and 0 <= d.delay_s <= 4.0
    d = next_step(f, 3, 0, POLICY, 0.5)
    assert not d.retry and isinstance(d.error, ExchangeUnavailable)


def test_429_waits_at_least_the_reset_but_never_beyond_the_cap() -> None:
    d = next_step(Failure(FailureCause.RATE_LIMITED, "429", 429, retry_after_s=2.5), 0, 0, POLICY, 0.0)
    assert d.retry and d.delay_s == 2.5
    d = next_step(Failure(FailureCause.RATE_LIMITED, "429", 429, retry_after_s=60), 0, 0, POLICY, 0.0)
    assert d.delay_s == 4.0


def test_401_retried_once_then_auth_error() -> None:
    f = Failure(FailureCause.UNAUTHORIZED, "401", 401)
    first = next_step(f, 0, 0, POLICY, 0.3)
    assert first.retry and first.delay_s == 0.0
    second = next_step(f, 0, 1, POLICY, 0.3)
    assert not second.retry and isinstance(second.error, ExchangeAuthError)


@pytest.mark.parametrize(("cause", "error"), [(FailureCause.NOT_FOUND, ExchangeNotFound),
                                              (FailureCause.BAD_REQUEST, ExchangeBadRequest),
                                              (FailureCause.FORBIDDEN, ExchangeAuthError),
                                              (FailureCause.CLIENT, ExchangeAuthError)])
def test_permanent_failures_are_not_retried(cause: FailureCause, error: type[Exception]) -> None:
    d = next_step(Failure(cause, "x"), 0, 0, POLICY, 0.5)
    assert not d.retry and isinstance(d.error, error)


def test_token_bucket_allows_burst_then_spaces_requests() -> None:
    bucket = TokenBucket(rate_per_s=10.0)
    waits = [bucket.reserve(0.0) for _ in range(12)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] == pytest.approx(0.1) and waits[11] == pytest.approx(0.2)
    assert bucket.reserve(10.0) == 0.0  # refilled after idle time


def test_token_bucket_rejects_nonpositive_rate() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)


async def test_rate_limiter_uses_separate_budgets() -> None:
    clock = ManualClock()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = RateLimiter(private_per_s=2, public_per_s=1, clock=clock, sleep=fake_sleep)
    assert await limiter.acquire() == 0.0
    assert await limiter.acquire() == 0.0
    assert await limiter.acquire() == pytest.approx(0.5)
    assert await limiter.acquire(public=True) == 0.0  # the public bucket is untouched by private calls
    assert await limiter.acquire(public=True) == pytest.approx(1.0)
    assert slept == [pytest.approx(0.5), pytest.approx(1.0)]
