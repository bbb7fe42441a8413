"""No look-ahead: indicators and decisions computed once over the whole series equal those computed
candle by candle (each row from only the candles up to it), and the votes match exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.settings import load_settings
from replay.data import load
from replay.sample_data import generate
from replay.signals import compute_tables
from sighook import indicators, rules

CANDLES = 320


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("sample")
    paths = generate(out, candles=CANDLES)
    return load([str(p) for p in paths[:2]]).series


def test_whole_series_equals_candle_by_candle(series: tuple) -> None:
    settings = load_settings(buy_score_threshold="0.3", sell_score_threshold="-0.3")
    tables = compute_tables(series, settings)
    min_rows = indicators.DEFAULT_PARAMS.min_candles
    checked = 0
    for s in series:
        table = tables[s.product_id]
        for i in range(min_rows - 1, len(s)):
            prefix = indicators.compute(s.ohlcv[: i + 1])  # only the past and the present
            last = prefix.iloc[-1]
            for name in indicators.INDICATOR_COLUMNS:
                whole, alone = table.columns[name][i], float(last[name])
                assert np.isnan(whole) == np.isnan(alone), (s.product_id, i, name)
                if not np.isnan(whole):
                    assert whole == pytest.approx(alone, rel=1e-9, abs=1e-12), (s.product_id, i, name)
            votes = rules.latest_votes(prefix.tail(rules.RULE_LOOKBACK + 1).reset_index(drop=True))
            assert votes == {name: int(v[i]) for name, v in table.votes.items()}, (s.product_id, i)
            score = rules.score(votes)
            assert table.decision(i) is rules.decide(score, settings.buy_score_threshold,
                                                     settings.sell_score_threshold)
            checked += 1
        buys = table.buy_rows()  # what a replay cycle looks closed candles up in
        assert buys == {i for i in range(len(s)) if table.decision(i) is rules.Decision.BUY}
        assert buys  # the thresholds above make some rows buy
    assert checked == 2 * (CANDLES - min_rows + 1)


def test_future_candles_do_not_change_the_past(series: tuple) -> None:
    """Changing candle k must leave every row before k exactly as it was."""
    s = series[0]
    settings = load_settings()
    base = compute_tables((s,), settings)[s.product_id]
    k = 250
    bumped = s.ohlcv.copy()
    bumped[k:, :4] *= 1.37
    from dataclasses import replace

    other = compute_tables((replace(s, ohlcv=bumped),), settings)[s.product_id]
    for name in indicators.INDICATOR_COLUMNS:
        a, b = base.columns[name][:k], other.columns[name][:k]
        # Prices are scaled by the last close inside the batch: equal up to float rounding of that scale.
        assert np.allclose(a, b, rtol=1e-9, atol=1e-12 * float(s.ohlcv[:, 3].max()), equal_nan=True), name
    assert (base.decisions[:k] == other.decisions[:k]).all()


def test_sample_files_are_reproducible(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", candles=500)
    b = generate(tmp_path / "b", candles=500)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
