"""Technical indicators: the ONE module that calls pandas-ta.

Engine choices are passed explicitly (`talib=False`, explicit `mamode`, `ddof`, `presma`), so
results never depend on whether TA-Lib happens to be installed.

Batching (why): pandas-ta costs ~0.3–1 ms per call whatever the length, so 300 products × 8 calls
would take seconds. `compute_batch` lays all products end to end in ONE long series, each preceded
by a run of NaN rows, and calls every pandas-ta function once:
  * windowed indicators (SMA, Bollinger, ROC, z-score, true range) never reach across the NaN gap;
  * recursive ones (EMA/RMA in MACD, RSI, ATR) use pandas `ewm(adjust=False)`, which carries a
    weight of (1-α)^gap across a gap of NaNs; the gap is sized so that weight is < 1e-16, i.e.
    every product effectively starts fresh at its first candle;
  * prices are divided by each product's last close (volumes by their mean) so all products have
    the same magnitude, and price-valued outputs are scaled back afterwards. The scale-free outputs
    (RSI, ROC, z-score) need no scaling.
A single product is computed as a batch of one, so `compute` and `compute_batch` agree (the unit
tests check it to 1e-9).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandas_ta as ta

OHLCV = ("open", "high", "low", "close", "volume")
# Outputs measured in price units: scaled back by each product's price scale.
PRICE_COLUMNS = ("macd", "macd_signal", "macd_hist", "bb_lower", "bb_mid", "bb_upper", "atr", "ema_fast",
                 "sma_slow")
INDICATOR_COLUMNS = ("rsi", "macd", "macd_signal", "macd_hist", "bb_lower", "bb_mid", "bb_upper", "roc", "atr",
                     "ema_fast", "sma_slow", "volume_z")
COLUMNS = OHLCV + INDICATOR_COLUMNS

_EWM_RESIDUAL = 1e-16  # weight the previous product may keep across the gap


@dataclass(frozen=True, slots=True)
class IndicatorParams:
    rsi_length: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    bb_length: int = 20
    bb_std: float = 2.0
    roc_length: int = 10
    atr_length: int = 14
    ema_fast: int = 9
    sma_slow: int = 21
    volume_z_length: int = 20

    @property
    def min_candles(self) -> int:
        """Candles a product needs before its indicators mean anything (longest warm-up + margin)."""
        longest = max(self.macd_slow + self.macd_signal, self.bb_length, self.roc_length + 1, self.atr_length + 1,
                      self.rsi_length + 1, self.sma_slow, self.ema_fast, self.volume_z_length)
        return 2 * longest

    @property
    def gap(self) -> int:
        """NaN rows between products in a batch (see the module docstring)."""
        alphas = [2 / (n + 1) for n in (self.macd_fast, self.macd_slow, self.macd_signal, self.ema_fast)]
        alphas += [1 / self.rsi_length, 1 / self.atr_length]
        decay = max(1 - a for a in alphas)
        ewm_gap = math.ceil(math.log(_EWM_RESIDUAL) / math.log(decay))
        windows = max(self.bb_length, self.roc_length, self.sma_slow, self.volume_z_length, self.macd_slow)
        return max(ewm_gap, windows + 1)


DEFAULT_PARAMS = IndicatorParams()


def check_ohlcv(rows: np.ndarray) -> str | None:
    """Why this (n, 5) open/high/low/close/volume array cannot be analysed, or None when it can."""
    if rows.ndim != 2 or rows.shape[1] != 5:
        return "bad_shape"
    if len(rows) == 0:
        return "no_candles"
    if not np.isfinite(rows).all():
        return "non_finite"
    if (rows[:, :4] <= 0).any():
        return "non_positive_price"
    if (rows[:, 4] < 0).any():
        return "negative_volume"
    return None


@dataclass(frozen=True, slots=True)
class IndicatorBatch:
    """All products' indicators as full-length column arrays; `bounds[i]` = [start, end) rows of product i.

    Kept as numpy arrays (not one big DataFrame: building that costs more than all the indicators);
    DataFrames are made only for what is read: one product's rows, or the last rows of every product.
    """

    columns: dict[str, np.ndarray]
    bounds: list[tuple[int, int]]

    def __len__(self) -> int:
        return len(self.bounds)

    def segment(self, i: int) -> pd.DataFrame:
        """Every row of product i (oldest first), columns COLUMNS."""
        start, end = self.bounds[i]
        return pd.DataFrame({name: self.columns[name][start:end] for name in COLUMNS})

    def tails(self, rows: int) -> pd.DataFrame:
        """The last `rows` rows of every product, product after product (fewer when a product is shorter).

        Column `product` holds the product's index. A rule that looks k rows back is correct on a
        product's last row when rows > k; earlier rows of a block may see the previous product.
        """
        if rows < 1:
            raise ValueError("rows must be positive")
        picks: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        for i, (start, end) in enumerate(self.bounds):
            first = max(start, end - rows)
            picks.append(np.arange(first, end))
            owners.append(np.full(end - first, i))
        index = np.concatenate(picks) if picks else np.empty(0, dtype=np.int64)
        frame = pd.DataFrame({name: self.columns[name][index] for name in COLUMNS})
        frame["product"] = np.concatenate(owners) if owners else np.empty(0, dtype=np.int64)
        return frame


def compute_batch(series: Sequence[np.ndarray], params: IndicatorParams = DEFAULT_PARAMS,
                  checked: bool = False) -> IndicatorBatch:
    """Indicators for many products at once; each array is (n, 5) OHLCV, oldest first.

    Every array must pass `check_ohlcv` (checked here unless the caller says it did: `checked=True`).
    """
    if not checked:
        for i, rows in enumerate(series):
            problem = check_ohlcv(rows)
            if problem is not None:
                raise ValueError(f"series {i}: {problem}")
    gap = params.gap
    # A constant lead-in long enough to hold every pandas-ta "presma" seed (they seed from the first
    # valid rows of the whole series), so the first product starts after a gap like every other.
    lead = params.min_candles
    total = lead + sum(gap + len(rows) for rows in series)
    norm = np.full((total, 5), np.nan)
    raw = np.full((total, 5), np.nan)
    scales = np.full(total, np.nan)
    norm[:lead] = 1.0
    bounds: list[tuple[int, int]] = []
    pos = lead
    for rows in series:
        start, end = pos + gap, pos + gap + len(rows)
        scale = rows[-1, 3]
        vol_mean = rows[:, 4].mean()
        norm[start:end, :4] = rows[:, :4] / scale
        norm[start:end, 4] = rows[:, 4] / vol_mean if vol_mean > 0 else rows[:, 4]
        raw[start:end] = rows
        scales[start:end] = scale
        bounds.append((start, end))
        pos = end
    gaps = np.isnan(norm[:, 3])
    firsts = np.fromiter((start for start, _ in bounds), dtype=np.int64, count=len(bounds))
    columns = _indicators(norm, params, gaps, firsts)
    for name in PRICE_COLUMNS:
        columns[name] = columns[name] * scales
    # OHLCV in real units for the rules (close vs band, candle colour).
    for j, name in enumerate(OHLCV):
        columns[name] = np.ascontiguousarray(raw[:, j])
    return IndicatorBatch(columns, bounds)


def compute(rows: np.ndarray, params: IndicatorParams = DEFAULT_PARAMS) -> pd.DataFrame:
    """Indicators of one product: one row per candle, columns COLUMNS."""
    return compute_batch([rows], params).segment(0)


def _indicators(norm: np.ndarray, p: IndicatorParams, gaps: np.ndarray, firsts: np.ndarray) -> dict[str, np.ndarray]:
    """Every pandas-ta call, on normalised OHLCV (NaN rows separate products).

    `gaps`: mask of the separator rows; `firsts`: row of each product's first candle.
    """
    high, low, close, volume = (pd.Series(norm[:, j]) for j in range(1, 5))
    # MACD = pandas-ta's own recipe (EMA fast − EMA slow, EMA of that as signal), spelled out so the
    # MACD line can be blanked on separator rows: pandas `ewm` carries its last value through NaN
    # input, and the signal EMA would otherwise start each product from the previous one's MACD.
    macd_line = ta.ema(close, length=p.macd_fast, talib=False, presma=True) - ta.ema(
        close, length=p.macd_slow, talib=False, presma=True)
    macd_line[gaps] = np.nan
    signal = ta.ema(macd_line, length=p.macd_signal, talib=False, presma=True)
    bb = ta.bbands(close, length=p.bb_length, lower_std=p.bb_std, upper_std=p.bb_std, ddof=0, mamode="sma",
                   talib=False)
    out = {
        "rsi": ta.rsi(close, length=p.rsi_length, mamode="rma", talib=False),
        "macd": macd_line, "macd_signal": signal, "macd_hist": macd_line - signal,
        "bb_lower": _column(bb, "BBL_"), "bb_mid": _column(bb, "BBM_"), "bb_upper": _column(bb, "BBU_"),
        "roc": ta.roc(close, length=p.roc_length, talib=False),
        "atr": ta.atr(high, low, close, length=p.atr_length, mamode="rma", talib=False, **_extra(presma=True)),
        "ema_fast": ta.ema(close, length=p.ema_fast, talib=False, presma=True),
        "sma_slow": ta.sma(close, length=p.sma_slow, talib=False),
        "volume_z": ta.zscore(volume, length=p.volume_z_length, std=1, **_extra(ddof=0, talib=False)),
    }
    columns = {name: _values(series, len(norm)) for name, series in out.items()}
    for values in columns.values():
        values[gaps] = np.nan  # separator rows hold carried-over values, never data
    columns["rsi"][firsts] = np.nan  # RSI needs one price change; the first candle has none
    return columns


def _extra(**options: Any) -> dict[str, Any]:
    """Options pandas-ta takes through **kwargs (its annotation of them is too narrow for mypy)."""
    return options


def _column(frame: pd.DataFrame | None, prefix: str) -> pd.Series | None:
    """A pandas-ta output column by its name prefix (names carry the parameters, e.g. MACDh_12_26_9)."""
    if frame is None:
        return None
    matches = [c for c in frame.columns if str(c).startswith(prefix)]
    if len(matches) != 1:
        raise RuntimeError(f"pandas-ta output has no single column starting with {prefix!r}: {list(frame.columns)}")
    return frame[matches[0]]


def _values(series: pd.Series | None, n: int) -> np.ndarray:
    # pandas-ta returns None when a series is shorter than the indicator's length.
    if series is None:
        return np.full(n, np.nan)
    return np.array(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)  # own, writable copy


def warm_up(params: IndicatorParams = DEFAULT_PARAMS) -> None:
    """Run every indicator once on synthetic data so numba compiles (or loads its cache) now, not mid-cycle."""
    n = max(params.min_candles, 60)
    close = 100.0 * np.exp(np.cumsum(np.sin(np.arange(n) / 5.0) * 0.001))
    rows = np.column_stack([close, close * 1.001, close * 0.999, close, np.linspace(1.0, 2.0, n)])
    compute_batch([rows, rows], params)
