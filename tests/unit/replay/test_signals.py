"""No look-ahead: indicators and decisions computed once over the whole series equal those computed
candle by candle (each row from only the candles up to it), and the votes match exactly."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.settings import load_settings
from market_data.ports import SignalView
from replay.assembly import ReplaySignals
from replay.clock import VirtualClock
from replay.data import load
from replay.sample_data import generate
from replay.signals import SignalTable, compute_tables
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


class ReferenceSignals:
    """ReplaySignals.signal as it was first written: the row's view rebuilt unless the last one built is of the
    same row and the clock is inside its interval; the view from decision(i) and atr(i)."""

    def __init__(self, tables: dict[str, SignalTable], clock: VirtualClock, interval_s: float) -> None:
        self._tables, self._clock, self._interval = tables, clock, timedelta(seconds=interval_s)
        self._current: dict[str, tuple[int, datetime]] = {}
        self._views: dict[str, tuple[int, datetime, SignalView | None]] = {}

    def closed(self, symbol: str, row: int, at: datetime) -> None:
        self._current[symbol] = (row, at)

    def signal(self, symbol: str) -> SignalView | None:
        current = self._current.get(symbol)
        if current is None:
            return None
        row, closed_at = current
        now = self._clock.now()
        last = self._views.get(symbol)
        if last is not None and last[0] == row and last[1] <= now < last[1] + self._interval:
            return last[2]
        as_of = closed_at + ((now - closed_at) // self._interval) * self._interval
        table = self._tables[symbol]
        view = None if not table.usable[row] else SignalView(
            sell=table.decision(row) is rules.Decision.SELL, atr=table.atr(row), as_of=as_of)
        self._views[symbol] = (row, as_of, view)
        return view


@pytest.mark.parametrize("interval_s", [60, 25, 300])
def test_replay_signals_answer_as_their_first_form(series: tuple, interval_s: int) -> None:
    """The same view (equal, its ATR written alike) at every read, rebuilt exactly when the first form rebuilt
    it: over random clock moves, candle closes (usable rows and warm-up ones; a row closed again at another
    time) and reads, also before any close and of a product that never closed."""
    settings = load_settings(buy_score_threshold="0.3", sell_score_threshold="-0.3")
    tables = compute_tables(series, settings)
    assert any(int(t.decisions[i]) == -1 and t.usable[i] for t in tables.values() for i in range(CANDLES))
    rng = random.Random(interval_s)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    clock_new, clock_ref = VirtualClock(start), VirtualClock(start)
    new, ref = ReplaySignals(tables, clock_new, interval_s), ReferenceSignals(tables, clock_ref, interval_s)
    symbols = sorted(tables)
    rows = dict.fromkeys(symbols, -1)
    last: dict[str, tuple[object, object]] = {}
    rebuilt = 0
    for _ in range(4000):
        step = timedelta(seconds=rng.choice([0, 1, 7, 20, 30, 59, 60, 61, 150]))
        clock_new.set(clock_new.now() + step)
        clock_ref.set(clock_ref.now() + step)
        symbol = rng.choice(symbols)
        if rng.random() < 0.25 and rows[symbol] < CANDLES - 1:
            if rng.random() < 0.9:
                rows[symbol] = min(rows[symbol] + rng.choice([1, 1, 1, 2]), CANDLES - 1)
            row = max(rows[symbol], 0)
            new.closed(symbol, row, clock_new.now())
            ref.closed(symbol, row, clock_ref.now())
        for asked in (symbol, rng.choice(symbols), "ABSENT-USD"):
            got, want = new.signal(asked), ref.signal(asked)
            assert got == want and repr(got) == repr(want), (asked, got, want)
            before = last.get(asked)
            if before is not None:
                assert (got is before[0]) == (want is before[1]), (asked, got, want)
                rebuilt += want is not before[1]
            last[asked] = (got, want)
    assert rebuilt > 100
