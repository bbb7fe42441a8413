"""The buy_sell_matrix: one row per product (votes, score, decision, ATR, close, candle time).

Pure: candles in, rows out. Indicators are floats internally; everything published is Decimal
(encoded as strings), datetimes are RFC 3339 UTC. `to_payload`/`from_payload` are the
schema-versioned JSON form stored in `shared_data` (see `shared_data.shared_state`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np

from core.clock import parse_rfc3339
from core.money import fmt, to_decimal
from exchange.models import Candle, granularity_seconds
from sighook import indicators, rules
from sighook.rules import Decision

MATRIX_SCHEMA = "bottrader.buy_sell_matrix"
MATRIX_SCHEMA_VERSION = 1

# Indicator values published with each row (for people and dashboards; rules already voted).
SNAPSHOT_COLUMNS = ("rsi", "macd_hist", "roc", "volume_z", "ema_fast", "sma_slow", "bb_lower", "bb_upper")
_PCT_PLACES = Decimal("0.000001")


def rfc3339(dt: datetime) -> str:
    """UTC, `Z` suffix: `2026-11-21T15:00:00Z` (fractional seconds only when there are any)."""
    utc = dt.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ") if utc.microsecond == 0 else utc.isoformat().replace("+00:00", "Z")


def float_to_decimal(value: float, digits: int = 10) -> Decimal | None:
    """An indicator float as a Decimal with `digits` significant digits; None for NaN/inf."""
    if not math.isfinite(value):
        return None
    return Decimal(format(value, f".{digits}g"))


@dataclass(frozen=True, slots=True)
class ProductCandles:
    """What the matrix needs of one product: its closed candles, as floats and the newest as Decimal."""

    product_id: str
    hodl: bool
    ohlcv: np.ndarray  # (n, 5) float64, oldest first
    last: Candle | None  # the newest candle (exact prices)


@dataclass(frozen=True, slots=True)
class MatrixRow:
    product_id: str
    hodl: bool
    candle_time: datetime  # start of the newest closed candle used
    as_of: datetime  # end of that candle: the data is as of this moment
    candles: int
    close: Decimal
    atr: Decimal
    atr_pct: Decimal  # ATR as a percent of the close (trailing-stop distance input)
    votes: dict[str, int]
    score: Decimal  # exact weighted score
    decision: Decision
    indicators: dict[str, Decimal | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BuySellMatrix:
    computed_at: datetime
    granularity: str
    buy_threshold: Decimal
    sell_threshold: Decimal
    weights: dict[str, Decimal]
    rows: dict[str, MatrixRow]
    skipped: dict[str, str]  # product_id → why it has no row (insufficient_history, non_finite, …)

    def decisions(self) -> dict[Decision, int]:
        counts = dict.fromkeys(Decision, 0)
        for row in self.rows.values():
            counts[row.decision] += 1
        return counts


def build_matrix(products: Sequence[ProductCandles], *, computed_at: datetime, granularity: str,
                 buy_threshold: Decimal, sell_threshold: Decimal,
                 weights: Mapping[str, Decimal] = rules.DEFAULT_WEIGHTS,
                 params: indicators.IndicatorParams = indicators.DEFAULT_PARAMS,
                 rule_params: rules.RuleParams = rules.DEFAULT_RULE_PARAMS) -> BuySellMatrix:
    """Indicators (one batch) → rule votes (vectorised) → one row per usable product.

    A product with bad or too little data gets an entry in `skipped`, never an exception.
    """
    rules.check_weights(weights)
    step = timedelta(seconds=granularity_seconds(granularity))
    skipped: dict[str, str] = {}
    usable: list[ProductCandles] = []
    for item in products:
        reason = _unusable(item, params)
        if reason is None:
            usable.append(item)
        else:
            skipped[item.product_id] = reason
    batch = indicators.compute_batch([p.ohlcv for p in usable], params, checked=True)
    tails = batch.tails(rules.RULE_LOOKBACK + 1)
    votes = rules.evaluate(tails, rule_params)
    last_idx = _last_index_per_product(tails["product"].to_numpy(), len(usable))
    snapshot = {name: tails[name].to_numpy()[last_idx] for name in (*SNAPSHOT_COLUMNS, "atr")}
    rows: dict[str, MatrixRow] = {}
    for i, item in enumerate(usable):
        assert item.last is not None
        row_votes = {name: int(v[last_idx[i]]) for name, v in votes.items()}
        atr = float_to_decimal(float(snapshot["atr"][i]))
        if atr is None or atr <= 0:
            skipped[item.product_id] = "no_atr"
            continue
        exact = rules.score(row_votes, weights)
        close = item.last.close
        rows[item.product_id] = MatrixRow(
            product_id=item.product_id, hodl=item.hodl, candle_time=item.last.start,
            as_of=item.last.start + step, candles=len(item.ohlcv), close=close, atr=atr,
            atr_pct=(atr / close * 100).quantize(_PCT_PLACES, rounding=ROUND_HALF_EVEN),
            votes=row_votes, score=exact, decision=rules.decide(exact, buy_threshold, sell_threshold),
            indicators={name: float_to_decimal(float(snapshot[name][i]), 6) for name in SNAPSHOT_COLUMNS},
        )
    return BuySellMatrix(computed_at=computed_at, granularity=granularity, buy_threshold=buy_threshold,
                         sell_threshold=sell_threshold, weights=dict(weights), rows=rows, skipped=skipped)


def _unusable(item: ProductCandles, params: indicators.IndicatorParams) -> str | None:
    if item.last is None or len(item.ohlcv) == 0:
        return "no_candles"
    problem = indicators.check_ohlcv(item.ohlcv)
    if problem is not None:
        return problem
    if len(item.ohlcv) < params.min_candles:
        return "insufficient_history"
    if item.last.close <= 0:
        return "non_positive_price"
    return None


def _last_index_per_product(owners: np.ndarray, count: int) -> np.ndarray:
    """Row of each product's last tail row (tails are grouped by product, in order)."""
    if count == 0:
        return np.empty(0, dtype=np.int64)
    ends = np.flatnonzero(np.r_[owners[1:] != owners[:-1], True])
    if len(ends) != count:
        raise RuntimeError("indicator tails are not one block per product")
    return ends


# ---- JSON form ---------------------------------------------------------------------------------


def to_payload(matrix: BuySellMatrix) -> dict[str, Any]:
    """Schema-versioned, JSON-safe form (Decimals as strings, times RFC 3339)."""
    return {
        "schema": MATRIX_SCHEMA,
        "schema_version": MATRIX_SCHEMA_VERSION,
        "computed_at": rfc3339(matrix.computed_at),
        "granularity": matrix.granularity,
        "thresholds": {"buy": fmt(matrix.buy_threshold), "sell": fmt(matrix.sell_threshold)},
        "weights": {name: fmt(w) for name, w in matrix.weights.items()},
        "rows": {pid: _row_payload(row) for pid, row in matrix.rows.items()},
        "skipped": dict(matrix.skipped),
    }


def _row_payload(row: MatrixRow) -> dict[str, Any]:
    return {
        "product_id": row.product_id,
        "hodl": row.hodl,
        "candle_time": rfc3339(row.candle_time),
        "as_of": rfc3339(row.as_of),
        "candles": row.candles,
        "close": fmt(row.close),
        "atr": fmt(row.atr),
        "atr_pct": fmt(row.atr_pct),
        "votes": dict(row.votes),
        "score": fmt(rules.display_score(row.score)),
        "decision": row.decision.value,
        "indicators": {k: (None if v is None else fmt(v)) for k, v in row.indicators.items()},
    }


def from_payload(data: Mapping[str, Any]) -> BuySellMatrix:
    """Parse `to_payload` output back (score comes back rounded to 4 places). Raises ValueError."""
    if data.get("schema") != MATRIX_SCHEMA:
        raise ValueError(f"not a buy_sell_matrix payload (schema={data.get('schema')!r})")
    version = data.get("schema_version")
    if version != MATRIX_SCHEMA_VERSION:
        raise ValueError(f"unsupported buy_sell_matrix schema_version {version!r}")
    try:
        rows = {pid: _row_from(r) for pid, r in data["rows"].items()}
        return BuySellMatrix(
            computed_at=parse_rfc3339(data["computed_at"]), granularity=str(data["granularity"]),
            buy_threshold=to_decimal(data["thresholds"]["buy"]), sell_threshold=to_decimal(data["thresholds"]["sell"]),
            weights={k: to_decimal(v) for k, v in data["weights"].items()}, rows=rows,
            skipped={str(k): str(v) for k, v in data.get("skipped", {}).items()},
        )
    except (KeyError, TypeError, ArithmeticError) as exc:
        raise ValueError(f"malformed buy_sell_matrix payload: {exc!r}") from None


def _row_from(r: Mapping[str, Any]) -> MatrixRow:
    return MatrixRow(
        product_id=str(r["product_id"]), hodl=bool(r["hodl"]), candle_time=parse_rfc3339(r["candle_time"]),
        as_of=parse_rfc3339(r["as_of"]), candles=int(r["candles"]), close=to_decimal(r["close"]),
        atr=to_decimal(r["atr"]), atr_pct=to_decimal(r["atr_pct"]),
        votes={str(k): int(v) for k, v in r["votes"].items()}, score=to_decimal(r["score"]),
        decision=Decision(r["decision"]),
        indicators={str(k): (None if v is None else to_decimal(v)) for k, v in r.get("indicators", {}).items()},
    )
