"""Rate limiter, refusal-record budget and payload masking."""

from __future__ import annotations

from decimal import Decimal

from webhook.alerts.limits import RecordBudget, TokenBucketLimiter
from webhook.alerts.masking import MASK, PayloadMasker, jsonable

SECRET = "0123456789abcdef0123456789abcdef-xyz"


def test_token_bucket_allows_a_burst_then_refills_evenly() -> None:
    limiter = TokenBucketLimiter(per_minute=3)
    assert [limiter.try_acquire("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.try_acquire("b", 0.0)  # keys are independent
    assert not limiter.try_acquire("a", 19.9)
    assert limiter.try_acquire("a", 20.0)  # 3 per minute → one token per 20 s
    assert not limiter.try_acquire("a", 20.0)
    assert [limiter.try_acquire("a", 1000.0) for _ in range(4)] == [True, True, True, False]  # capped at 3


def test_token_bucket_memory_is_bounded() -> None:
    limiter = TokenBucketLimiter(per_minute=1, max_keys=2)
    assert limiter.try_acquire("a", 0.0) and limiter.try_acquire("b", 0.0)
    assert not limiter.try_acquire("c", 0.0)  # full, and nobody's bucket has refilled
    assert limiter.try_acquire("c", 60.0)  # refilled buckets are forgotten to make room


def test_record_budget_per_source_and_overall_per_minute() -> None:
    budget = RecordBudget(per_source=2, total=3)
    assert [budget.allow("x", 0.0) for _ in range(3)] == [True, True, False]
    assert budget.allow("y", 1.0) and not budget.allow("z", 2.0)  # total reached
    assert budget.allow("x", 60.0) and budget.allow("x", 61.0) and not budget.allow("x", 62.0)  # new window


def test_masker_hides_secret_fields_and_secret_values_anywhere() -> None:
    masker = PayloadMasker([SECRET])
    body = {"secret": SECRET, "ticker": "BTCUSD", "price": Decimal("1.50"),
            "strategy": {"comment": f"oops {SECRET} pasted", "api_key": "abc", "passphrase": "", "n": [Decimal("2")]},
            SECRET: "as a key"}
    masked = masker.mask(body)
    assert masked["secret"] == MASK and masked["price"] == "1.50"
    assert masked["strategy"] == {"comment": f"oops {MASK} pasted", "api_key": MASK, "passphrase": "", "n": ["2"]}
    assert SECRET not in repr(masked)
    assert body["secret"] == SECRET  # the input is not modified


def test_jsonable_turns_decimals_into_strings() -> None:
    assert jsonable({"a": [Decimal("1.0"), {"b": Decimal("2")}], "c": 3}) == {"a": ["1.0", {"b": "2"}], "c": 3}
