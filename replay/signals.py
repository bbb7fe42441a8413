"""sighook's indicators and rules over a whole series at once, read back one closed candle at a time.

`compute_batch` (sighook/indicators.py) runs every pandas-ta call once over all products, and
`rules.evaluate` votes on every row; a row's values use only that candle and earlier ones (the
indicators are causal and the rules look back RULE_LOOKBACK rows), which
tests/unit/replay/test_signals.py proves by recomputing prefixes candle by candle. The score and
decision of each row come from sighook's own `rules.score`/`rules.decide` (exact Decimal), and a
row becomes sighook's own `MatrixRow`, so entry alerts are built by sighook's code.

One difference from a live sighook, documented in the README: live computes over the last
CANDLE_HISTORY candles, the replay over all candles so far. EMA/RMA seeds fade geometrically, so
after a few hundred candles the two agree to ~1e-9.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

from core.settings import Settings
from market_data.ports import SignalView
from replay.data import ProductSeries
from sighook import indicators, rules
from sighook.matrix import SNAPSHOT_COLUMNS, MatrixRow, float_to_decimal
from sighook.rules import Decision

_PCT_PLACES = Decimal("0.000001")
_CODE = {Decision.BUY: 1, Decision.SELL: -1, Decision.HOLD: 0}


@dataclass(frozen=True, slots=True)
class SignalTable:
    """Row i: sighook's verdict once candle i has closed (NaN-warm-up rows decide HOLD and are unusable)."""

    series: ProductSeries
    columns: dict[str, np.ndarray]  # indicator columns, one value per candle
    votes: dict[str, np.ndarray]  # rule → int8 vote per candle
    decisions: np.ndarray  # int8: 1 buy, −1 sell, 0 hold
    usable: np.ndarray  # bool: enough history and a positive ATR (the live matrix skips the others)
    scores: tuple[Decimal, ...]  # exact score per unique vote pattern, indexed by `pattern`
    pattern: np.ndarray  # int index into `scores` per candle

    def decision(self, i: int) -> Decision:
        if not self.usable[i]:
            return Decision.HOLD
        code = int(self.decisions[i])
        return Decision.BUY if code == 1 else Decision.SELL if code == -1 else Decision.HOLD

    def buy_rows(self) -> frozenset[int]:
        """Every i whose decision(i) is BUY, at once (a cycle asks for each closed candle)."""
        return frozenset(np.flatnonzero(self.usable & (self.decisions == 1)).tolist())

    def atr(self, i: int) -> Decimal | None:
        return float_to_decimal(float(self.columns["atr"][i])) if self.usable[i] else None

    def view(self, i: int, as_of: datetime) -> SignalView | None:
        """What the sentinel reads from the matrix (SharedStateListener.signal) for row i."""
        if not self.usable[i]:
            return None
        # decision(i) and atr(i) of a usable row, without asking usable[i] twice more (a replay builds one view
        # per held product and candle).
        return SignalView(sell=int(self.decisions[i]) == -1, atr=float_to_decimal(float(self.columns["atr"][i])),
                          as_of=as_of)

    def row(self, i: int, hodl: bool, weights_total_rows: int) -> MatrixRow:
        """sighook's MatrixRow for candle i (as `build_matrix` would publish it after the candle closed)."""
        s = self.series
        start = datetime.fromtimestamp(int(s.starts[i]), UTC)
        close = s.prices[i][3]
        atr = self.atr(i)
        assert atr is not None
        score = self.scores[int(self.pattern[i])]
        return MatrixRow(
            product_id=s.product_id, hodl=hodl, candle_time=start, as_of=start + timedelta(seconds=s.granularity_s),
            candles=min(i + 1, weights_total_rows), close=close, atr=atr,
            atr_pct=(atr / close * 100).quantize(_PCT_PLACES, rounding=ROUND_HALF_EVEN),
            votes={name: int(v[i]) for name, v in self.votes.items()}, score=score, decision=self.decision(i),
            indicators={name: float_to_decimal(float(self.columns[name][i]), 6) for name in SNAPSHOT_COLUMNS},
        )


def compute_tables(series: tuple[ProductSeries, ...], settings: Settings,
                   params: indicators.IndicatorParams = indicators.DEFAULT_PARAMS,
                   rule_params: rules.RuleParams = rules.DEFAULT_RULE_PARAMS) -> dict[str, SignalTable]:
    """Every product's indicators, votes and decisions, vectorised (one pandas-ta batch for all)."""
    batch = indicators.compute_batch([s.ohlcv for s in series], params)
    weights = rules.DEFAULT_WEIGHTS
    out: dict[str, SignalTable] = {}
    for k, s in enumerate(series):
        frame = batch.segment(k)
        votes = rules.evaluate(frame, rule_params)
        names = list(votes)
        stacked = np.stack([votes[n] for n in names], axis=1).astype(np.int64) + 1  # 0..2
        code = stacked @ (3 ** np.arange(len(names), dtype=np.int64))
        uniques, pattern = np.unique(code, return_inverse=True)
        scores: list[Decimal] = []
        codes: list[int] = []
        for u in uniques:
            digits = [(int(u) // 3**j) % 3 - 1 for j in range(len(names))]
            exact = rules.score(dict(zip(names, digits, strict=True)), weights)
            scores.append(exact)
            codes.append(_CODE[rules.decide(exact, settings.buy_score_threshold, settings.sell_score_threshold)])
        decisions = np.asarray(codes, dtype=np.int8)[pattern]
        atr = np.asarray(frame["atr"].to_numpy(dtype=np.float64))
        enough = np.arange(len(s)) + 1 >= params.min_candles
        usable = enough & np.isfinite(atr) & (atr > 0)
        columns = {name: np.asarray(frame[name].to_numpy(dtype=np.float64)) for name in indicators.COLUMNS}
        out[s.product_id] = SignalTable(s, columns, votes, decisions, usable, tuple(scores),
                                        np.asarray(pattern, dtype=np.int64))
    return out
