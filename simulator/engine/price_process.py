"""Per-product price paths: a seeded geometric random walk, or replay of OHLCV rows from a CSV.

Everything is Decimal. The walk's normal draws are Irwin–Hall sums of 12 seeded uniforms, and
exp() is a short Taylor series (per-tick moves are tiny), so a seed gives the same path on every
platform.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from core.money import quantize_to

_TWO_32 = Decimal(2**32)
_SIX = Decimal(6)


@dataclass(frozen=True, slots=True)
class PricePoint:
    price: Decimal
    volume: Decimal  # base volume traded at this point


class PriceProcess(Protocol):
    def next_point(self, current: Decimal) -> PricePoint: ...


def normal_draw(rng: random.Random) -> Decimal:
    """Approximately N(0, 1), exact in Decimal."""
    return sum((Decimal(rng.getrandbits(32)) / _TWO_32 for _ in range(12)), Decimal(0)) - _SIX


def exp_small(x: Decimal) -> Decimal:
    """exp(x) for |x| ≪ 1 (error < x⁴/24)."""
    return 1 + x + x * x / 2 + x * x * x / 6


class RandomWalk:
    """price_{t+1} = price_t · exp(drift + volatility · z), rounded to the price tick."""

    def __init__(self, seed: int, volatility: Decimal, drift: Decimal, tick: Decimal,
                 mean_volume: Decimal) -> None:
        self._rng = random.Random(seed)
        self.volatility = volatility
        self.drift = drift
        self.tick = tick
        self.mean_volume = mean_volume

    def next_point(self, current: Decimal) -> PricePoint:
        step = self.drift + self.volatility * normal_draw(self._rng)
        price = max(quantize_to(current * exp_small(step), self.tick), self.tick)
        # Volume uniform in [0, 2·mean), on the 1e-8 grid.
        volume = (self.mean_volume * 2 * Decimal(self._rng.getrandbits(32)) / _TWO_32).quantize(Decimal("1e-8"))
        return PricePoint(price, volume)


@dataclass(frozen=True, slots=True)
class OhlcvRow:
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    product_id: str | None = None


def _parse_time(text: str) -> datetime:
    text = text.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    from core.clock import parse_rfc3339

    return parse_rfc3339(text)


def read_ohlcv_csv(path: Path) -> list[OhlcvRow]:
    """Rows with columns start|time|timestamp, open, high, low, close, volume and optional product_id
    (names in any case, cells trimmed; blank lines skipped)."""
    rows: list[OhlcvRow] = []
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        col = {name: i for i, name in enumerate(header) if name}  # a repeated name: its last column
        stamp_col = next((col[k] for k in ("start", "time", "timestamp") if k in col), None)
        # The common case in one expression per row (Decimal trims spaces itself); any row it cannot
        # take goes through the careful per-cell path, which names the cell at fault.
        fast = stamp_col is not None and all(k in col for k in ("open", "high", "low", "close", "volume"))
        ts = stamp_col or 0
        o, h, lo, c, v = (col.get(k, 0) for k in ("open", "high", "low", "close", "volume"))
        pid = col.get("product_id")
        number = Decimal
        for n, rec in enumerate(reader, start=2):
            if not rec:
                continue
            if fast:
                try:
                    rows.append(OhlcvRow(
                        start=_parse_time(rec[ts]), open=number(rec[o]), high=number(rec[h]),
                        low=number(rec[lo]), close=number(rec[c]), volume=number(rec[v]),
                        product_id=(rec[pid].strip() or None) if pid is not None and pid < len(rec) else None))
                    continue
                except (IndexError, ArithmeticError, ValueError):
                    pass
            try:
                stamp = _cell(rec, stamp_col)
                if not stamp:
                    raise ValueError("no start/time/timestamp column")
                rows.append(OhlcvRow(
                    start=_parse_time(stamp), open=_number(rec, col, "open"), high=_number(rec, col, "high"),
                    low=_number(rec, col, "low"), close=_number(rec, col, "close"),
                    volume=_number(rec, col, "volume", "0"), product_id=_cell(rec, col.get("product_id")) or None,
                ))
            except (KeyError, ArithmeticError, ValueError) as exc:
                raise ValueError(f"{path}:{n}: bad OHLCV row ({exc})") from None
    if not rows:
        raise ValueError(f"{path}: no OHLCV rows")
    return rows


def _cell(rec: list[str], i: int | None) -> str:
    return rec[i].strip() if i is not None and i < len(rec) else ""


def _number(rec: list[str], col: dict[str, int], name: str, missing: str | None = None) -> Decimal:
    """The cell of column `name` as a Decimal; `missing` stands in for an absent or empty cell, if given."""
    if name not in col and missing is None:
        raise ValueError(f"no {name} column")
    text = _cell(rec, col.get(name)) or (missing or "")
    try:
        return Decimal(text)
    except ArithmeticError:
        raise ValueError(f"{name} {text!r} is not a number") from None


class CsvReplay:
    """Each row becomes four ticks: open, then low/high (in the order the bar most likely moved), close."""

    def __init__(self, rows: list[OhlcvRow], tick: Decimal) -> None:
        if not rows:
            raise ValueError("replay needs at least one row")
        self._points = list(self._expand(rows, tick))
        self._i = 1  # the first point is the starting price; ticks continue from the next one

    @staticmethod
    def _expand(rows: list[OhlcvRow], tick: Decimal) -> Iterator[PricePoint]:
        for row in rows:
            quarter = row.volume / 4
            path = (row.open, row.low, row.high, row.close) if row.close >= row.open else (
                row.open, row.high, row.low, row.close)
            for p in path:
                yield PricePoint(quantize_to(p, tick), quarter)

    def next_point(self, current: Decimal) -> PricePoint:
        point = self._points[self._i % len(self._points)]  # loops at the end
        self._i += 1
        return point

    @property
    def first_price(self) -> Decimal:
        return self._points[0].price
