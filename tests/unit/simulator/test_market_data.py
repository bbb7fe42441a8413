"""Price processes, candles and 24h statistics."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from simulator.engine.candles import CandleSeries, seed_history
from simulator.engine.price_process import CsvReplay, RandomWalk, normal_draw, read_ohlcv_csv
from tests.unit.simulator.helpers import T0, D, make_engine


def test_random_walk_is_seeded_and_on_the_tick() -> None:
    a = RandomWalk(5, D("0.001"), D("0"), D("0.01"), D("1"))
    b = RandomWalk(5, D("0.001"), D("0"), D("0.01"), D("1"))
    pa, pb = D("100"), D("100")
    for _ in range(200):
        pa, pb = a.next_point(pa).price, b.next_point(pb).price
        assert pa == pb and pa % D("0.01") == 0 and pa > 0
    draws = [normal_draw(random.Random(1)) for _ in range(1)]
    assert all(isinstance(d, Decimal) for d in draws)


def test_drift_pushes_the_walk() -> None:
    up = RandomWalk(1, D("0.0001"), D("0.001"), D("0.01"), D("1"))
    price = D("100")
    for _ in range(500):
        price = up.next_point(price).price
    assert price > D("150")


def test_csv_replay(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("time,open,high,low,close,volume\n1700000000,100,110,95,105,8\n1700000060,105,106,90,91,4\n")
    rows = read_ohlcv_csv(path)
    replay = CsvReplay(rows, D("0.01"))
    assert replay.first_price == D("100")
    points = [replay.next_point(D("0")) for _ in range(8)]
    assert [p.price for p in points] == [D(x) for x in ("95", "110", "105", "105", "106", "90", "91", "100")]
    assert points[-1].price == D("100")  # loops back to the first bar
    assert points[0].volume == D("2")
    bad = tmp_path / "bad.csv"
    bad.write_text("time,open,high,low,close\nnot-a-time,1,2,3,4\n")
    with pytest.raises(ValueError, match="bad.csv:2"):
        read_ohlcv_csv(bad)


def test_engine_replays_csv_per_product(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("start,product_id,open,high,low,close,volume\n"
                    "2026-01-01T00:00:00Z,BTC-USD,50000,50100,49900,50050,3\n")
    from simulator.engine.matching import EngineConfig, MatchingEngine
    from simulator.engine.products import default_spec

    e = MatchingEngine(EngineConfig(history_minutes=0), [default_spec("BTC-USD"), default_spec("ETH-USD")], T0,
                       {"USD": D("1")}, read_ohlcv_csv(path))
    assert e.markets["BTC-USD"].price == D("50000")
    e.tick(T0)
    assert e.markets["BTC-USD"].price == D("49900")
    assert e.markets["ETH-USD"].price != D("49900")  # the random walk for products without rows


def test_candles_aggregate_newest_first_and_omit_empty_buckets() -> None:
    series = CandleSeries()
    base = T0.replace(minute=0)
    for minute, price in [(0, "10"), (1, "12"), (3, "9"), (5, "11"), (5, "13")]:
        series.add(base + timedelta(minutes=minute, seconds=5), D(price), D("1"))
    start = int(base.timestamp())
    ones = series.query(60, start, start + 600)
    assert [b.start - start for b in ones] == [300, 180, 60, 0]
    assert ones[0].open == D("11") and ones[0].close == D("13") and ones[0].high == D("13") and ones[0].volume == 2
    fives = series.query(300, start, start + 600)
    assert [(b.start - start, b.open, b.high, b.low, b.close, b.volume) for b in fives] == [
        (300, D("11"), D("13"), D("11"), D("13"), D("2")), (0, D("10"), D("12"), D("9"), D("9"), D("3"))]


def test_seeded_history_ends_at_the_start_price() -> None:
    series = CandleSeries()
    seed_history(series, end=T0, end_price=D("100.00"), minutes=400, seed=3, minute_volatility=D("0.002"),
                 mean_minute_volume=D("5"), tick=D("0.01"))
    assert len(series) == 400
    newest = series.query(60, 0, int(T0.timestamp()))
    assert newest[0].close == D("100.00") and newest[0].start == int(T0.timestamp()) - 60
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in newest)
    assert all(newer.open == older.close for newer, older in itertools.pairwise(newest))


def test_stats_from_history() -> None:
    e = make_engine(history_minutes=1500)
    stats = e.markets["BTC-USD"].stats(T0)
    assert stats.volume > 0 and stats.low <= e.markets["BTC-USD"].price <= stats.high
    assert stats.low_52w <= stats.low and stats.high_52w >= stats.high
    assert stats.price_change_pct == (e.markets["BTC-USD"].price - stats.open) / stats.open * 100 or abs(
        stats.price_change_pct - (e.markets["BTC-USD"].price - stats.open) / stats.open * 100) < D("1e-13")
