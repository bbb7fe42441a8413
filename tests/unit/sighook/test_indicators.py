"""Indicators (pandas-ta) on candles with known answers, and batch == one-by-one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sighook import indicators
from sighook.indicators import COLUMNS, DEFAULT_PARAMS, check_ohlcv, compute, compute_batch

N = 300


def ramp(n: int = N, step: float = 1.0, start: float = 100.0, last_volume: float = 10.0) -> np.ndarray:
    """Closes start, start+step, …; open = previous close; high = close + 0.5; low = open − 0.5 (rising)."""
    close = start + step * np.arange(n)
    open_ = np.r_[close[0] - step, close[:-1]]
    high = np.maximum(open_, close) + 0.5
    low = np.minimum(open_, close) - 0.5
    volume = np.full(n, 10.0)
    volume[-1] = last_volume
    return np.column_stack([open_, high, low, close, volume])


def test_rising_ramp_known_values() -> None:
    frame = compute(ramp(last_volume=30.0))
    last = frame.iloc[-1]
    assert list(frame.columns) == list(COLUMNS)
    assert last["close"] == 399.0
    assert last["rsi"] == pytest.approx(100.0)  # only gains
    assert last["atr"] == pytest.approx(2.0, abs=1e-9)  # every true range is high − low = 2
    assert last["roc"] == pytest.approx(100 * 10 / 389)  # 399 vs 389 ten candles earlier
    assert last["sma_slow"] == pytest.approx(389.0)  # mean of 379..399
    assert last["ema_fast"] == pytest.approx(399.0 - 4.0, abs=1e-9)  # EMA(9) lags a ramp by (1−α)/α = 4
    # EMA(26) lags by 12.5, EMA(12) by 5.5; the start-up transient left is 12.5·(25/27)^299 ≈ 1.3e-9.
    assert last["macd"] == pytest.approx(12.5 - 5.5, abs=1e-8)
    assert last["macd_signal"] == pytest.approx(7.0, abs=1e-8)
    assert last["macd_hist"] == pytest.approx(0.0, abs=1e-8)
    half_width = 2 * math.sqrt((20**2 - 1) / 12)  # 2 population std of 20 consecutive integers
    assert last["bb_mid"] == pytest.approx(389.5)
    assert last["bb_lower"] == pytest.approx(389.5 - half_width)
    assert last["bb_upper"] == pytest.approx(389.5 + half_width)
    # 19 volumes of 10 and one of 30: mean 11, population std √19 → z = 19/√19 = √19.
    assert last["volume_z"] == pytest.approx(math.sqrt(19))


def test_falling_ramp_rsi_is_zero_and_roc_negative() -> None:
    rows = ramp(step=-0.1, start=1000.0)
    last = compute(rows).iloc[-1]
    assert last["rsi"] == pytest.approx(0.0)
    assert last["roc"] < 0
    assert last["ema_fast"] < last["sma_slow"]  # the fast average is below the slow one in a fall
    assert last["macd"] < 0


def test_scale_invariance_of_price_free_indicators() -> None:
    rows = ramp(step=0.37)
    tiny = rows.copy()
    tiny[:, :4] *= 1e-6
    a, b = compute(rows).iloc[-1], compute(tiny).iloc[-1]
    for col in ("rsi", "roc", "volume_z"):
        assert a[col] == pytest.approx(b[col], rel=1e-9)
    for col in ("atr", "macd", "bb_upper", "ema_fast"):
        assert a[col] * 1e-6 == pytest.approx(b[col], rel=1e-9)


def test_warm_up_rows_are_missing_not_invented() -> None:
    frame = compute(ramp(n=80))
    assert math.isnan(frame["rsi"].iloc[0])
    assert frame["sma_slow"].iloc[:20].isna().all() and not math.isnan(frame["sma_slow"].iloc[20])
    assert frame["bb_upper"].iloc[:19].isna().all()
    assert frame["roc"].iloc[:10].isna().all()


def random_product(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    close = scale * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, n))
    volume = rng.uniform(0, 1000, n) * scale**-0.5
    return np.column_stack([open_, high, low, close, volume])


def test_batch_equals_one_product_at_a_time() -> None:
    rng = np.random.default_rng(7)
    products = [random_product(rng, int(rng.integers(70, 301)), 10 ** rng.uniform(-6, 5)) for _ in range(25)]
    batch = compute_batch(products)
    assert len(batch) == 25
    for i, rows in enumerate(products):
        alone = compute(rows)
        together = batch.segment(i)
        assert together.shape == alone.shape
        np.testing.assert_array_equal(alone.isna().to_numpy(), together.isna().to_numpy())
        for col in COLUMNS:
            a, b = alone[col].to_numpy(), together[col].to_numpy()
            magnitude = np.nanmax(np.abs(a)) if not np.isnan(a).all() else 1.0
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-9 * magnitude, equal_nan=True, err_msg=col)


def test_tails_hold_the_last_rows_of_every_product_in_order() -> None:
    rows_a, rows_b = ramp(n=90), ramp(n=75, start=50.0)
    batch = compute_batch([rows_a, rows_b])
    tails = batch.tails(2)
    assert tails["product"].tolist() == [0, 0, 1, 1]
    assert tails["close"].tolist() == [rows_a[-2, 3], rows_a[-1, 3], rows_b[-2, 3], rows_b[-1, 3]]
    assert tails["rsi"].iloc[-1] == pytest.approx(batch.segment(1)["rsi"].iloc[-1])


def test_empty_batch() -> None:
    batch = compute_batch([])
    assert len(batch) == 0
    assert batch.tails(2).empty


@pytest.mark.parametrize(("rows", "reason"), [
    (np.empty((0, 5)), "no_candles"),
    (np.ones((3, 4)), "bad_shape"),
    (np.array([[1.0, 1.0, 1.0, np.nan, 1.0]]), "non_finite"),
    (np.array([[1.0, 1.0, 1.0, 0.0, 1.0]]), "non_positive_price"),
    (np.array([[1.0, 1.0, 1.0, 1.0, -1.0]]), "negative_volume"),
])
def test_check_ohlcv_names_bad_data(rows: np.ndarray, reason: str) -> None:
    assert check_ohlcv(rows) == reason
    with pytest.raises(ValueError, match=reason):
        compute_batch([ramp(n=80), rows])


def test_params_gap_and_warm_up() -> None:
    # The separator is long enough for the slowest EWM to forget the previous product (< 1e-16).
    slowest = 1 - 1 / DEFAULT_PARAMS.rsi_length
    assert slowest ** DEFAULT_PARAMS.gap < 1e-16
    assert DEFAULT_PARAMS.min_candles >= DEFAULT_PARAMS.macd_slow + DEFAULT_PARAMS.macd_signal
    indicators.warm_up()
