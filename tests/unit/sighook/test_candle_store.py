"""Candle store and the incremental fetch plan (pure)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from exchange.models import Candle
from sighook.candle_store import (
    MAX_BUCKETS_PER_REQUEST,
    CandleSeries,
    CandleStore,
    FetchWindow,
    bucket_floor,
    plan_fetch,
)

T0 = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def candle(start: datetime, close: str = "100", volume: str = "1") -> Candle:
    c = Decimal(close)
    return Candle(start=start, open=c, high=c + 1, low=c - 1, close=c, volume=Decimal(volume))


def test_bucket_floor() -> None:
    assert bucket_floor(T0 + timedelta(seconds=59), 60) == T0
    assert bucket_floor(T0, 60) == T0
    assert bucket_floor(T0 + timedelta(minutes=7), 300) == T0 + timedelta(minutes=5)


def test_cold_start_backfills_history_in_windows_of_at_most_300_buckets() -> None:
    now = T0 + timedelta(seconds=30)  # the 15:00 bucket is in progress
    windows = plan_fetch(None, now, "ONE_MINUTE", history=1000)
    assert windows[0].start == T0 - 1000 * MIN
    assert windows[-1].end == T0  # exclusive: the open bucket is never requested
    assert [w.buckets(60) for w in windows] == [300, 300, 300, 100]
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))


def test_incremental_plan_asks_only_for_new_closed_buckets() -> None:
    now = T0 + timedelta(minutes=3, seconds=5)
    windows = plan_fetch(T0, now, "ONE_MINUTE", history=300)
    assert windows == [FetchWindow(T0 + MIN, T0 + 3 * MIN)]  # 15:01 and 15:02; 15:03 is open


def test_up_to_date_series_needs_no_request() -> None:
    assert plan_fetch(T0, T0 + MIN + timedelta(seconds=59), "ONE_MINUTE", history=300) == []


def test_long_outage_refetches_at_most_history() -> None:
    windows = plan_fetch(T0 - timedelta(days=3), T0, "ONE_MINUTE", history=300)
    assert windows == [FetchWindow(T0 - 300 * MIN, T0)]


def test_plan_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="granularity"):
        plan_fetch(None, T0, "TEN_MINUTE", history=10)
    with pytest.raises(ValueError, match="max_buckets"):
        plan_fetch(None, T0, "ONE_MINUTE", history=10, max_buckets=351)
    assert MAX_BUCKETS_PER_REQUEST <= 350


def test_merge_keeps_closed_buckets_sorted_deduplicated_and_bounded() -> None:
    store = CandleStore(history=5)
    now = T0 + timedelta(minutes=10, seconds=1)
    fetched = [candle(T0 + k * MIN, str(100 + k)) for k in range(11)]  # includes the open 15:10 bucket
    added = store.merge("BTC-USD", "ONE_MINUTE", reversed(fetched), now)  # newest first, like Coinbase
    series = store.get("BTC-USD", "ONE_MINUTE")
    assert series is not None
    assert added == 10
    assert [c.start for c in series.candles] == [T0 + k * MIN for k in range(5, 10)]
    assert store.last_start("BTC-USD", "ONE_MINUTE") == T0 + 9 * MIN
    # The same candles again add nothing; a corrected candle replaces its bucket.
    assert store.merge("BTC-USD", "ONE_MINUTE", [candle(T0 + 9 * MIN, "555")], now) == 0
    assert series.last is not None and series.last.close == Decimal("555")
    assert series.arrays()[-1, 3] == 555.0


def test_gaps_are_tolerated_and_filled_when_they_arrive() -> None:
    series = CandleSeries(capacity=10)
    series.merge([candle(T0), candle(T0 + 3 * MIN)])
    assert len(series) == 2
    series.merge([candle(T0 + MIN, "101")])
    assert [c.start for c in series.candles] == [T0, T0 + MIN, T0 + 3 * MIN]
    assert series.arrays()[:, 3].tolist() == [100.0, 101.0, 100.0]


def test_incremental_arrays_equal_a_full_rebuild() -> None:
    series = CandleSeries(capacity=50)
    for step in range(0, 120, 7):  # appends of 7, trimming at capacity
        series.merge([candle(T0 + (step + k) * MIN, str(100 + step + k), str(k + 1)) for k in range(7)])
        rebuilt = CandleSeries(capacity=50)
        rebuilt.merge(series.candles)
        np.testing.assert_array_equal(series.arrays(), rebuilt.arrays())
    assert len(series) == 50
    assert series.arrays().shape == (50, 5)


def test_forget_drops_products_that_left_the_universe() -> None:
    store = CandleStore(history=10)
    store.merge("A-USD", "ONE_MINUTE", [candle(T0)], T0 + 2 * MIN)
    store.merge("B-USD", "ONE_MINUTE", [candle(T0)], T0 + 2 * MIN)
    assert store.forget(["B-USD"]) == 1
    assert store.get("A-USD", "ONE_MINUTE") is None
    assert store.plan("A-USD", "ONE_MINUTE", T0 + 2 * MIN)[0].start == T0 + 2 * MIN - 10 * MIN
