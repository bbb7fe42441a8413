"""Candle files: both formats read exactly; every bad input is refused before anything runs."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from replay.data import DataError, load, parse_product_map, parse_time
from replay.path import CYCLE, POINT, build_timeline, candle_path

HEADER = "start,open,high,low,close,volume\n"


def _csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def _good_rows(n: int = 5, start: int = 1_767_225_600, step: int = 60) -> list[str]:
    return [f"{start + step * i},100.00,101.00,99.00,100.50,3" for i in range(n)]


def test_csv_named_by_file_and_freqtrade_json_mapped(tmp_path: Path) -> None:
    a = _csv(tmp_path / "BTC-USD.csv", _good_rows())
    b = tmp_path / "eth.json"
    b.write_text(json.dumps([[1_767_225_600_000 + 300_000 * i, 3000.1, 3001.25, 2999.5, 3000.75, 1.5]
                             for i in range(4)]), encoding="utf-8")
    data = load([a, b], products=parse_product_map(["eth.json=ETH-USD"]))
    btc, eth = data.series
    assert (btc.product_id, btc.granularity_s, len(btc)) == ("BTC-USD", 60, 5)
    assert (eth.product_id, eth.granularity_s, len(eth)) == ("ETH-USD", 300, 4)
    assert eth.prices[0] == (Decimal("3000.1"), Decimal("3001.25"), Decimal("2999.5"), Decimal("3000.75"))
    assert eth.tick == Decimal("0.01")
    assert set(data.fingerprint["files"]) == {"BTC-USD.csv", "eth.json"}  # type: ignore[arg-type]


def test_freqtrade_file_name_gives_the_pair(tmp_path: Path) -> None:
    f = tmp_path / "SOL_USDT-1m.json"
    f.write_text(json.dumps([[1_767_225_600_000, 1, 2, 0.5, 1.5, 0]]), encoding="utf-8")
    assert load([f]).series[0].product_id == "SOL-USDT"
    import gzip

    g = tmp_path / "ADA_USD-5m.json.gz"
    g.write_bytes(gzip.compress(b"[[1767225600000, 0.45, 0.46, 0.44, 0.455, 10]]"))
    [ada] = load([g]).series
    assert ada.product_id == "ADA-USD" and ada.prices[0][3] == Decimal("0.455")


def test_product_id_column_splits_products(tmp_path: Path) -> None:
    rows = [f"{1_767_225_600 + 60 * i},1,2,0.5,1.5,1,{p}" for i in range(3) for p in ("A-USD", "B-USD")]
    f = _csv(tmp_path / "mixed.csv", rows, "start,open,high,low,close,volume,product_id\n")
    assert [s.product_id for s in load([f]).series] == ["A-USD", "B-USD"]


@pytest.mark.parametrize(("rows", "message"), [
    (_good_rows(3)[:1] + _good_rows(3)[:1] + _good_rows(3)[1:], "duplicate"),
    (list(reversed(_good_rows(3))), "unsorted"),
    ([*_good_rows(2), "1767225720,0,101,0,100,1"], "non-positive"),
    ([*_good_rows(2), "1767225720,100,99,98,100,1"], "inconsistent"),
    ([*_good_rows(2), "1767226200,100,101,99,100,1"], "gap of 8 missing candles"),
    ([*_good_rows(2), "1767225725,100,101,99,100,1"], "whole minute"),
    (["1767225600,abc,1,1,1,1"], "bad OHLCV row"),
    (["1767225600,abc,1,1,1,1"], "open 'abc' is not a number"),
    (["1767225600,100,101,99"], "close '' is not a number"),  # a short row names the missing cell
])
def test_bad_data_is_refused_with_a_clear_message(tmp_path: Path, rows: list[str], message: str) -> None:
    f = _csv(tmp_path / "BTC-USD.csv", rows)
    with pytest.raises(DataError, match=message):
        load([f], max_gap_candles=5)


def test_small_gaps_within_the_setting_pass(tmp_path: Path) -> None:
    f = _csv(tmp_path / "BTC-USD.csv", [*_good_rows(2), "1767225900,100,101,99,100,1"])  # 3 missing
    assert len(load([f], max_gap_candles=3).series[0]) == 3
    with pytest.raises(DataError, match="gap of 3"):
        load([f], max_gap_candles=2)


def test_unreadable_and_unnamed_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load([tmp_path / "missing.csv"])
    bad = tmp_path / "x.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="not JSON"):
        load([bad])
    anon = _csv(tmp_path / "candles.csv", _good_rows())
    with pytest.raises(DataError, match="--product"):
        load([anon])


def test_start_end_cut(tmp_path: Path) -> None:
    f = _csv(tmp_path / "BTC-USD.csv", _good_rows(10))
    s = load([f], start=parse_time("1767225720"), end=parse_time("2026-01-01T00:05:00Z")).series[0]
    assert len(s) == 3


def test_intrabar_path_and_timeline_order(tmp_path: Path) -> None:
    assert candle_path(Decimal(10), Decimal(12), Decimal(9), Decimal(11)) == (10, 9, 12, 11)  # green: low first
    assert candle_path(Decimal(10), Decimal(12), Decimal(9), Decimal("9.5")) == (10, 12, 9, Decimal("9.5"))
    f = _csv(tmp_path / "BTC-USD.csv", _good_rows(2))
    tl = build_timeline(load([f]).series)
    start = 1_767_225_600
    assert tl.time.tolist() == [start, start + 20, start + 40, start + 59, start + 60, start + 60, start + 80,
                                start + 100, start + 119, start + 120]
    assert tl.kind.tolist() == [POINT] * 4 + [CYCLE] + [POINT] * 4 + [CYCLE]  # close known before next open
    assert tl.closes.tolist() == [False, False, False, True, False, False, False, False, True, False]


def test_one_minute_detail_replaces_the_guess(tmp_path: Path) -> None:
    coarse = _csv(tmp_path / "BTC-USD.csv", ["1767225600,100,103,97,101,1"])
    minutes = [f"{1_767_225_600 + 60 * i},{o},{h},{lo},{c},1" for i, (o, h, lo, c) in enumerate(
        [(100, 103, 100, 103), (103, 103, 97, 98), (98, 101, 98, 101), (101, 101, 101, 101), (101, 101, 101, 101)])]
    detail = _csv(tmp_path / "detail.csv", minutes)
    data = load([coarse], products={"BTC-USD.csv": "X-USD"}).series
    # A 5-minute candle needs 5 detail minutes of the same product.
    det = load([detail], products={"detail.csv": "X-USD"}).series[0]
    from dataclasses import replace

    five = replace(data[0], granularity_s=300)
    tl = build_timeline((five,), {"X-USD": det})
    assert tl.detailed_candles == 1
    # The detail says the high came first (103 in minute 0), where the guess (green bar) says the low.
    assert [str(p) for p in tl.prices[0][:8]] == ["100", "100", "103", "103", "103", "103", "97", "98"]


def _tick_reference(prices: list[Decimal]) -> Decimal:
    """The tick as first written: the most significant places of any price, at most 8."""
    places = max((-int(p.normalize().as_tuple().exponent) for p in prices), default=0)
    return Decimal(1).scaleb(-min(max(places, 0), 8))


@pytest.mark.parametrize("texts", [
    ["1.50", "1.55", "2.00"],  # written alike, the second has more significant places
    ["1.50", "2.50", "100"],
    ["100", "1E+2", "0.000000001", "3"],  # past 8 places: 1e-8
    ["5.10", "5.1", "5.123", "5.120"],
])
def test_tick_is_the_finest_significant_step(tmp_path: Path, texts: list[str]) -> None:
    import random

    rng = random.Random(7)
    rows = [f"{1_767_225_600 - 60},{texts[0]},{texts[0]},{texts[0]},{texts[0]},1"]  # texts[0] is looked at first
    for i in range(40):  # each price one of `texts`, as written
        lo, o, c, h = sorted((rng.choice(texts) for _ in range(4)), key=Decimal)
        rows.append(f"{1_767_225_600 + 60 * i},{o},{h},{lo},{c},1")
    series = load([_csv(tmp_path / "X-USD.csv", rows)]).series[0]
    assert series.tick == _tick_reference([p for bar in series.prices for p in bar])


def test_checks_are_exact_where_floats_tie(tmp_path: Path) -> None:
    # Equal as floats, yet the high is below the open: refused, as an exact check must.
    tie = "1767225660,1.00000000000000002,1.00000000000000001,0.9,1.0,1"
    with pytest.raises(DataError, match="inconsistent"):
        load([_csv(tmp_path / "A-USD.csv", [_good_rows(1)[0], tie])])
    # A price too small for a float (0.0) is still positive; a flat candle and zero volume are fine.
    tiny = "1767225660,1E-400,1E-400,1E-400,1E-400,0"
    assert len(load([_csv(tmp_path / "B-USD.csv", [_good_rows(1)[0], tiny])]).series[0]) == 2
    with pytest.raises(DataError, match="non-finite"):  # float() refuses a signalling NaN outright
        load([_csv(tmp_path / "C-USD.csv", [_good_rows(1)[0], "1767225660,sNaN,1,1,1,1"])])
    with pytest.raises(DataError, match="negative volume"):
        load([_csv(tmp_path / "D-USD.csv", [_good_rows(1)[0], "1767225660,100,101,99,100,-1E-400"])])


def test_cells_read_alike_on_every_path(tmp_path: Path) -> None:
    """Spaces, an empty volume, a missing product cell and a short row read as the per-cell reader did."""
    from simulator.engine.price_process import read_ohlcv_csv

    header = "Start , open,HIGH,low,close,volume,product_id\n"
    rows = ["1767225600, 100.10 ,101,99,100.5, 2 , btc-usd ", "1767225660,100,101,99,100.5,,",
            "1767225720,100,101,99,100.5,3"]
    read = read_ohlcv_csv(_csv(tmp_path / "any.csv", rows, header))
    assert [(r.open, r.volume, r.product_id) for r in read] == [
        (Decimal("100.10"), Decimal("2"), "btc-usd"), (Decimal("100"), Decimal("0"), None),
        (Decimal("100"), Decimal("3"), None)]
    assert read[0].start.timestamp() == 1767225600 and read[2].close == Decimal("100.5")
