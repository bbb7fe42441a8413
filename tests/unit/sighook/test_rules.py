"""Signal rules on fixed frames and candles with known answers; score and decision (exact Decimal)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from sighook import rules
from sighook.indicators import COLUMNS, compute
from sighook.rules import Decision, decide, latest_votes, score


def frame(**columns: list[float]) -> pd.DataFrame:
    """An indicator frame: the given columns, every other column NaN (warm-up)."""
    n = len(next(iter(columns.values())))
    data = {name: columns.get(name, [np.nan] * n) for name in COLUMNS}
    return pd.DataFrame(data, dtype=np.float64)


def test_rsi_rule() -> None:
    votes = rules.rsi_rule(frame(rsi=[29.9, 30.0, 50.0, 70.0, 70.1, np.nan]))
    assert votes.tolist() == [1, 0, 0, 0, -1, 0]


def test_macd_rule_needs_the_histogram_to_widen() -> None:
    votes = rules.macd_rule(frame(macd_hist=[0.1, 0.2, 0.15, -0.1, -0.3, -0.2]))
    assert votes.tolist() == [0, 1, 0, -1, -1, 0]  # row 0 has no previous bar


def test_bollinger_rule() -> None:
    votes = rules.bollinger_rule(frame(close=[9.0, 10.0, 20.0, 21.0], bb_lower=[10.0] * 4, bb_upper=[20.0] * 4))
    assert votes.tolist() == [1, 0, 0, -1]


def test_roc_rule() -> None:
    votes = rules.roc_rule(frame(roc=[0.26, 0.25, 0.0, -0.25, -0.26]))
    assert votes.tolist() == [1, 0, 0, 0, -1]


def test_ma_cross_rule() -> None:
    votes = rules.ma_cross_rule(frame(ema_fast=[11.0, 10.0, 9.0], sma_slow=[10.0, 10.0, 10.0]))
    assert votes.tolist() == [1, 0, -1]


def test_volume_rule_uses_the_candle_colour() -> None:
    votes = rules.volume_rule(frame(volume_z=[2.5, 2.5, 2.5, 1.0], open=[10.0, 11.0, 10.0, 10.0],
                                    close=[11.0, 10.0, 10.0, 12.0]))
    assert votes.tolist() == [1, -1, 0, 0]


def test_rule_params_move_the_thresholds() -> None:
    strict = rules.RuleParams(rsi_oversold=20.0, rsi_overbought=80.0)
    assert rules.rsi_rule(frame(rsi=[25.0, 75.0]), strict).tolist() == [0, 0]


def test_warm_up_rows_vote_zero() -> None:
    votes = rules.evaluate(frame(close=[float("nan")] * 3))
    assert set(votes) == set(rules.RULES)
    assert all(v.tolist() == [0, 0, 0] for v in votes.values())


def candles(closes: list[float], volumes: list[float]) -> np.ndarray:
    close = np.array(closes)
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) + 0.01
    low = np.minimum(open_, close) - 0.01
    return np.column_stack([open_, high, low, close, np.array(volumes)])


def test_crash_on_volume_known_votes() -> None:
    # 100 quiet candles around 100, then five red candles of −2 % each, the last on six times the volume.
    quiet = [100.0 + 0.05 * ((-1) ** k) for k in range(100)]
    crash = [quiet[-1] * 0.98 ** (k + 1) for k in range(5)]
    votes = latest_votes(compute(candles(quiet + crash, [10.0] * 104 + [60.0])))
    assert votes == {
        "rsi": 1,  # deeply oversold
        "macd": -1,  # below the signal line and falling further
        "bollinger": 1,  # closed under the lower band
        "roc": -1,  # −9.6 % over ten candles
        "ma_cross": -1,  # EMA(9) under SMA(21)
        "volume": -1,  # the spike is on red candles
    }
    assert score(votes) == Decimal(-2) / Decimal(6)


def test_steady_rise_known_votes() -> None:
    closes = [100.0 * 1.001**k for k in range(120)]
    votes = latest_votes(compute(candles(closes, [10.0] * 120)))
    # Overbought (RSI 100) and momentum up; MACD flat (histogram ≈ 0 does not widen); no volume spike.
    assert votes == {"rsi": -1, "macd": 0, "bollinger": 0, "roc": 1, "ma_cross": 1, "volume": 0}


def test_latest_votes_of_an_empty_frame() -> None:
    assert latest_votes(frame(close=[])) == dict.fromkeys(rules.RULES, 0)


def test_score_is_the_exact_weighted_mean_vote() -> None:
    votes = {"rsi": 1, "macd": 1, "bollinger": 0, "roc": -1, "ma_cross": 1, "volume": 1}
    assert score(votes) == Decimal(3) / Decimal(6)
    weights = {"rsi": Decimal(2), "macd": Decimal("0.5"), "roc": Decimal(0)}
    assert score(votes, weights) == Decimal("2.5") / Decimal("2.5")  # unweighted rules do not count
    assert score(votes, {}) == Decimal(0)


def test_decide_with_thresholds_inclusive() -> None:
    buy, sell = Decimal("0.6"), Decimal("-0.6")
    assert decide(Decimal("0.6"), buy, sell) is Decision.BUY
    assert decide(Decimal("0.5999"), buy, sell) is Decision.HOLD
    assert decide(Decimal("-0.6"), buy, sell) is Decision.SELL
    assert decide(Decimal(-1), Decimal(-1), sell) is Decision.BUY  # a threshold of −1 forces buys
    assert decide(Decimal(2) / Decimal(3), Decimal("0.6667"), sell) is Decision.HOLD  # exact, not rounded


def test_weights_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown"):
        rules.check_weights({"nope": Decimal(1)})
    with pytest.raises(ValueError, match="negative"):
        rules.check_weights({"rsi": Decimal(-1)})
    assert rules.display_score(Decimal(2) / Decimal(3)) == Decimal("0.6667")
