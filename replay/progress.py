"""The replay's progress bar: candles done, the simulated date, and speed (tqdm, on stderr)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from tqdm import tqdm

from replay.driver import Progress

BATCH = 500  # candles per bar refresh: tqdm costs more than a candle's own work


@contextmanager
def progress_bar(total: int, *, enabled: bool = True, label: str = "replay") -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    bar: tqdm[object] | None = None  # made at the first candle: its speed must not count the set-up
    done = 0

    def tick(n: int, simulated: datetime) -> None:
        nonlocal done, bar
        if bar is None:
            bar = tqdm(total=total, unit="candle", unit_scale=True, desc=label, file=sys.stderr, mininterval=0.5,
                       dynamic_ncols=True)
        done += n
        if done >= BATCH:
            bar.update(done)
            bar.set_postfix_str(simulated.strftime("%Y-%m-%d %H:%M"), refresh=False)
            done = 0

    try:
        yield tick
    finally:
        if bar is not None:
            if done:
                bar.update(done)
            bar.close()
