"""Signal rules: pure functions of an indicator DataFrame → votes, a weighted score, a decision.

A rule takes a frame with the columns of `sighook.indicators.COLUMNS` (rows = candles, oldest
first) and returns one vote per row: +1 (buy), −1 (sell) or 0. The vote of a row uses only that
row and at most RULE_LOOKBACK rows before it, so rules run vectorised over every product at once
(see `IndicatorBatch.tails`). Missing indicator values (warm-up) vote 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

import numpy as np
import pandas as pd

RULE_LOOKBACK = 1  # rows before the current one any rule reads


class Decision(StrEnum):
    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class RuleParams:
    rsi_oversold: float = 30.0
    rsi_overbought: float = 70.0
    roc_threshold_pct: float = 0.25  # momentum over the ROC window, in percent
    volume_z_spike: float = 2.0  # a volume this many standard deviations above its mean is a spike


DEFAULT_RULE_PARAMS = RuleParams()

Rule = Callable[[pd.DataFrame, RuleParams], pd.Series]


def _votes(frame: pd.DataFrame, buy: pd.Series | np.ndarray, sell: pd.Series | np.ndarray) -> pd.Series:
    buy_a = np.asarray(buy, dtype=bool)
    sell_a = np.asarray(sell, dtype=bool)
    return pd.Series(buy_a.astype(np.int8) - sell_a.astype(np.int8), index=frame.index, dtype=np.int8)


def rsi_rule(frame: pd.DataFrame, p: RuleParams = DEFAULT_RULE_PARAMS) -> pd.Series:
    """Mean reversion: oversold (RSI below 30) buys, overbought (above 70) sells."""
    rsi = frame["rsi"]
    return _votes(frame, rsi < p.rsi_oversold, rsi > p.rsi_overbought)


def macd_rule(frame: pd.DataFrame, p: RuleParams = DEFAULT_RULE_PARAMS) -> pd.Series:
    """Momentum: MACD above its signal line and the gap widening buys; below and widening sells."""
    hist = frame["macd_hist"]
    prev = hist.shift(1)
    return _votes(frame, (hist > 0) & (hist > prev), (hist < 0) & (hist < prev))


def bollinger_rule(frame: pd.DataFrame, p: RuleParams = DEFAULT_RULE_PARAMS) -> pd.Series:
    """Mean reversion: a close below the lower band buys, above the upper band sells."""
    close = frame["close"]
    return _votes(frame, close < frame["bb_lower"], close > frame["bb_upper"])


def roc_rule(frame: pd.DataFrame, p: RuleParams = DEFAULT_RULE_PARAMS) -> pd.Series:
    """Momentum: rate of change above +threshold % buys, below −threshold % sells."""
    roc = frame["roc"]
    return _votes(frame, roc > p.roc_threshold_pct, roc < -p.roc_threshold_pct)


def ma_cross_rule(frame: pd.DataFrame, p: RuleParams = DEFAULT_RULE_PARAMS) -> pd.Series:
    """Trend: which side of the EMA/SMA cross we are on (fast EMA above the slow SMA buys)."""
    fast = frame["ema_fast"]
    slow = frame["sma_slow"]
    return _votes(frame, fast > slow, fast < slow)


def volume_rule(frame: pd.DataFrame, p: RuleParams = DEFAULT_RULE_PARAMS) -> pd.Series:
    """Participation: a volume spike on a green candle buys, on a red candle sells."""
    spike = frame["volume_z"] > p.volume_z_spike
    return _votes(frame, spike & (frame["close"] > frame["open"]), spike & (frame["close"] < frame["open"]))


RULES: dict[str, Rule] = {
    "rsi": rsi_rule,
    "macd": macd_rule,
    "bollinger": bollinger_rule,
    "roc": roc_rule,
    "ma_cross": ma_cross_rule,
    "volume": volume_rule,
}

DEFAULT_WEIGHTS: dict[str, Decimal] = {name: Decimal(1) for name in RULES}


def check_weights(weights: Mapping[str, Decimal]) -> None:
    unknown = set(weights) - set(RULES)
    if unknown:
        raise ValueError(f"weights name unknown rules: {sorted(unknown)}")
    if any(w < 0 for w in weights.values()):
        raise ValueError("rule weights must not be negative")


def evaluate(frame: pd.DataFrame, params: RuleParams = DEFAULT_RULE_PARAMS,
             rules: Mapping[str, Rule] | None = None) -> dict[str, np.ndarray]:
    """Every rule's votes on every row: {rule name: int8 array}."""
    chosen = RULES if rules is None else rules
    return {name: rule(frame, params).to_numpy(dtype=np.int8) for name, rule in chosen.items()}


def latest_votes(frame: pd.DataFrame, params: RuleParams = DEFAULT_RULE_PARAMS) -> dict[str, int]:
    """The votes on the last row of one product's frame."""
    if frame.empty:
        return dict.fromkeys(RULES, 0)
    return {name: int(votes[-1]) for name, votes in evaluate(frame, params).items()}


def score(votes: Mapping[str, int], weights: Mapping[str, Decimal] = DEFAULT_WEIGHTS) -> Decimal:
    """Weighted mean vote in [−1, 1], exact (Decimal). Rules without a weight count 0."""
    total = sum((weights.get(name, Decimal(0)) for name in votes), Decimal(0))
    if total == 0:
        return Decimal(0)
    weighted = sum((weights.get(name, Decimal(0)) * vote for name, vote in votes.items()), Decimal(0))
    return weighted / total


def decide(value: Decimal, buy_threshold: Decimal, sell_threshold: Decimal) -> Decision:
    """Buy at or above the buy threshold, else sell at or below the sell threshold, else hold."""
    if value >= buy_threshold:
        return Decision.BUY
    if value <= sell_threshold:
        return Decision.SELL
    return Decision.HOLD


def display_score(value: Decimal) -> Decimal:
    """The score as published (4 places); decisions use the exact value."""
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)
