"""A small scripted market: 70 quiet candles, then one drop through the soft stop.

Every candle before the drop is O=C=100.00, H=100.50, L=99.50 (ATR = 1, so sighook rows are usable
from the 70th candle on); with BUY_SCORE_THRESHOLD=-1 every usable row is a buy, so the entry comes
at the first cycle that has one: the close of candle 69 (index), at 01:10.
"""

from __future__ import annotations

from pathlib import Path

from replay.data import write_csv

START = 1_767_225_600  # 2026-01-01T00:00:00Z
QUIET = 70
SETTINGS = {
    "buy_score_threshold": "-1",  # every usable row buys
    "max_consecutive_losses": "1",  # one loss trips the breaker: exactly one round trip
    "entry_quote_size_usd": "100",
    "stop_loss_soft_pct": "-2.5",
    "stop_loss_hard_pct": "-5",
    "sim_initial_usd": "10000",
    # The hand computation measures thresholds on price (the default, net of fees, moves every
    # threshold by the round-trip fee: tests/unit/market_data/test_pnl_basis.py covers it).
    "exit_pnl_basis": "price",
    # The taker path, worked out by hand in test_scripted_exit.py (the replay runs the configured styles;
    # the maker-first defaults have their own scripted tests: test_scripted_maker.py).
    "entry_order_type": "market",
    "exit_order_style": "marketable",
}


def write_scripted(path: Path, drop: tuple[str, str, str, str] = ("100.00", "100.00", "97.40", "97.45"),
                   after: int = 3) -> Path:
    rows = [(START + 60 * i, "100.00", "100.50", "99.50", "100.00", "10") for i in range(QUIET)]
    o, h, lo, c = drop
    rows.append((START + 60 * QUIET, o, h, lo, c, "10"))
    rows += [(START + 60 * (QUIET + 1 + i), c, c, c, c, "10") for i in range(after)]
    write_csv(path, "BTC-USD", rows)
    return path
