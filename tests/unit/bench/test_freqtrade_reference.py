"""The Freqtrade reference gets exactly the replay bench's candles (Freqtrade itself is not needed here)."""

from __future__ import annotations

from pathlib import Path

from bench.freqtrade_reference import write_scenario
from bench.replay_throughput import _files
from replay.data import load


def test_freqtrade_files_hold_the_replay_bench_candles_exactly(tmp_path: Path) -> None:
    pairs = write_scenario(tmp_path / "freqtrade", 3, 400)
    assert pairs == ["P00/USD", "P01/USD", "P02/USD"]
    theirs = load(sorted((tmp_path / "freqtrade").glob("*-1m.json")))  # P00_USD-1m.json names P00-USD
    ours = load(_files(tmp_path / "replay", 3, 400))
    assert [s.product_id for s in theirs.series] == ["P00-USD", "P01-USD", "P02-USD"]
    for a, b in zip(ours.series, theirs.series, strict=True):
        assert a.product_id == b.product_id and len(a) == len(b) == 400
        assert (a.starts == b.starts).all()
        assert a.prices == b.prices  # Decimal from the text on both sides: exact
        assert a.volumes == b.volumes
        assert [str(p) for bar in a.prices[:50] for p in bar] == [str(p) for bar in b.prices[:50] for p in bar]
