"""Candle files for a replay: the simulator's CSV and Freqtrade's JSON, read and checked up front.

Everything is checked before anything runs: an unreadable file, unsorted or duplicate rows, a gap
larger than REPLAY_MAX_GAP_CANDLES, a non-positive price or an inconsistent bar (high below the
open/close, low above them) stops the replay with one message naming the file and the row.

Prices stay exact: CSV text and JSON numbers are parsed straight to Decimal (never through float);
a float64 copy feeds the vectorised indicators only.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from simulator.engine.price_process import OhlcvRow, read_ohlcv_csv


class DataError(ValueError):
    """The candle data cannot be replayed; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class ProductSeries:
    """One product's candles, oldest first, on one granularity."""

    product_id: str
    source: str
    granularity_s: int
    starts: np.ndarray  # int64 unix seconds of each candle's start
    ohlcv: np.ndarray  # (n, 5) float64: indicators only
    prices: tuple[tuple[Decimal, Decimal, Decimal, Decimal], ...]  # exact (open, high, low, close)
    volumes: tuple[Decimal, ...]

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def tick(self) -> Decimal:
        """The finest price step the data uses (at most 1e-8): the venue's price increment."""
        places = 0
        settled: Decimal | None = None  # a price whose places as written cannot raise the count
        for bar in self.prices:
            for p in bar:
                if settled is not None and p.same_quantum(settled):
                    continue  # written with as many places as `settled`: it cannot raise the count either
                # A price's places as written bound its significant ones (normalize drops trailing zeros).
                written = p.as_tuple().exponent
                if not isinstance(written, int):
                    continue
                if -written > places:
                    exponent = p.normalize().as_tuple().exponent
                    if isinstance(exponent, int) and -exponent > places:
                        places = -exponent
                if -written <= places:
                    settled = p
        return Decimal(1).scaleb(-min(places, 8))

    def start_time(self, i: int) -> datetime:
        return datetime.fromtimestamp(int(self.starts[i]), UTC)


@dataclass(frozen=True, slots=True)
class DataSet:
    series: tuple[ProductSeries, ...]
    fingerprint: dict[str, object]

    @property
    def candles(self) -> int:
        return sum(len(s) for s in self.series)


def parse_product_map(items: Sequence[str]) -> dict[str, str]:
    """`--product FILE=BTC-USD` → {FILE name: product}; matched by path or by file name."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, product = item.partition("=")
        if not sep or not name.strip() or not product.strip():
            raise DataError(f"--product wants FILE=PRODUCT-ID, got {item!r}")
        out[name.strip()] = product.strip().upper()
    return out


def parse_time(text: str) -> datetime:
    """`2026-01-31`, `2026-01-31T12:00`, RFC 3339 or unix seconds → aware UTC datetime."""
    s = text.strip()
    if s.isdigit():
        return datetime.fromtimestamp(int(s), UTC)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"not a time: {text!r} (use YYYY-MM-DD, an ISO time or unix seconds)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def load(paths: Sequence[str | Path], *, products: Mapping[str, str] | None = None, start: datetime | None = None,
         end: datetime | None = None, max_gap_candles: int = 0) -> DataSet:
    """Read, map to products, cut to [start, end), and check every file. Raises DataError."""
    if not paths:
        raise DataError("no data files given (--data FILE …)")
    mapping = dict(products or {})
    rows_by_product: dict[str, tuple[str, list[OhlcvRow]]] = {}
    digests: dict[str, str] = {}
    for raw in paths:
        path = Path(raw)
        rows = _read(path)
        digests[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        mapped = mapping.get(str(raw)) or mapping.get(path.name) or mapping.get(path.stem)
        for product_id, product_rows in _split(path, rows, mapped).items():
            if product_id in rows_by_product:
                raise DataError(f"{path}: product {product_id} also comes from {rows_by_product[product_id][0]}")
            rows_by_product[product_id] = (str(path), product_rows)
    series = []
    for product_id in sorted(rows_by_product):
        source, rows = rows_by_product[product_id]
        cut = [r for r in rows if (start is None or r.start >= start) and (end is None or r.start < end)]
        if not cut:
            raise DataError(f"{source}: no {product_id} candles between {start} and {end}")
        series.append(_check(product_id, source, cut, max_gap_candles))
    fingerprint: dict[str, object] = {
        "files": dict(sorted(digests.items())),
        "products": {s.product_id: {"candles": len(s), "granularity_s": s.granularity_s,
                                    "first": s.start_time(0).isoformat(), "last": s.start_time(len(s) - 1).isoformat()}
                     for s in series},
        "start": None if start is None else start.isoformat(),
        "end": None if end is None else end.isoformat(),
    }
    return DataSet(tuple(series), fingerprint)


def _read(path: Path) -> list[OhlcvRow]:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        if path.name.lower().endswith((".json", ".json.gz")):
            return _read_freqtrade(path)
        return read_ohlcv_csv(path)
    except DataError:
        raise
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None
    except ValueError as exc:
        raise DataError(str(exc)) from None


def _read_freqtrade(path: Path) -> list[OhlcvRow]:
    """Freqtrade's downloaded data: `[[ms, open, high, low, close, volume], …]` (`.json` or `.json.gz`)."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") else path.read_bytes()
        data = json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_int=Decimal)
    except (json.JSONDecodeError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, list) or not data:
        raise DataError(f"{path}: expected a non-empty list of [ms, open, high, low, close, volume]")
    rows = []
    for n, item in enumerate(data):
        if not isinstance(item, list) or len(item) < 6 or not all(isinstance(x, Decimal) for x in item[:6]):
            raise DataError(f"{path}: row {n}: expected [ms, open, high, low, close, volume], got {item!r}"[:300])
        ms, o, h, lo, c, v = item[:6]
        if ms != ms.to_integral_value() or ms % 1000 != 0:
            raise DataError(f"{path}: row {n}: timestamp {ms} is not whole seconds in milliseconds")
        rows.append(OhlcvRow(datetime.fromtimestamp(int(ms) // 1000, UTC), o, h, lo, c, v))
    return rows


def _split(path: Path, rows: list[OhlcvRow], mapped: str | None) -> dict[str, list[OhlcvRow]]:
    named = {r.product_id for r in rows}
    if mapped is not None:
        if named - {None, mapped}:
            raise DataError(f"{path}: mapped to {mapped} but rows name {sorted(p for p in named if p)}")
        return {mapped: rows}
    if None in named:
        guess = _product_from_name(path)
        if guess is None:
            raise DataError(f"{path}: rows have no product_id column; name the product with --product "
                            f"{path.name}=BTC-USD")
        return {guess: rows} if named == {None} else _fail_mixed(path)
    out: dict[str, list[OhlcvRow]] = {}
    for r in rows:
        out.setdefault(str(r.product_id).upper(), []).append(r)
    return out


def _fail_mixed(path: Path) -> dict[str, list[OhlcvRow]]:
    raise DataError(f"{path}: some rows have a product_id and some do not")


def _product_from_name(path: Path) -> str | None:
    """Freqtrade names files like `BTC_USDT-1m.json`; ours `BTC-USD.csv`."""
    stem = path.name.upper().removesuffix(".GZ").rsplit(".", 1)[0]
    if "_" in stem:  # freqtrade: BASE_QUOTE-timeframe
        pair = stem.split("-", 1)[0]
        base, _, quote = pair.partition("_")
        return f"{base}-{quote}" if base and quote else None
    parts = stem.split("-")
    return f"{parts[0]}-{parts[1]}" if len(parts) >= 2 and parts[0] and parts[1] else None


def _check(product_id: str, source: str, rows: list[OhlcvRow], max_gap_candles: int) -> ProductSeries:
    starts = np.fromiter((int(r.start.timestamp()) for r in rows), dtype=np.int64, count=len(rows))
    where = f"{source} ({product_id})"
    ohlcv = _floats(rows)
    # Rows the floats vouch for: float() is monotonic, so a strict float inequality holds exactly too.
    # Every other row (equal floats, zero volume, anything float() refused) gets the exact checks, in
    # row order, so the first bad row is the one named, as when every row was checked exactly.
    suspect = starts % 60 != 0
    if ohlcv is None:
        suspect[:] = True
    else:
        o, h, lo, c, v = ohlcv.T
        clear = (np.isfinite(ohlcv).all(axis=1) & (lo > 0) & (v > 0) & (h > np.maximum(np.maximum(o, c), lo))
                 & (lo < np.minimum(o, c)))
        suspect |= ~clear
    for j in np.flatnonzero(suspect).tolist():
        _check_row(where, rows[j])
    if len(rows) > 1:
        steps = np.diff(starts)
        backwards = np.flatnonzero(steps <= 0)
        if len(backwards):
            j = int(backwards[0]) + 1
            what = "duplicate" if steps[backwards[0]] == 0 else "unsorted"
            raise DataError(f"{where}: {what} rows at {rows[j].start.isoformat()} (row {j + 1} of {len(rows)})")
        granularity = int(steps.min())
        if granularity < 60:
            raise DataError(f"{where}: candles closer than one minute")
        off = np.flatnonzero(steps % granularity)
        if len(off):
            j = int(off[0]) + 1
            raise DataError(f"{where}: candle {rows[j].start.isoformat()} is off the {granularity} s grid")
        missing = steps // granularity - 1
        gaps = np.flatnonzero(missing > max_gap_candles)
        if len(gaps):
            j = int(gaps[0]) + 1
            raise DataError(f"{where}: gap of {int(missing[gaps[0]])} missing candles before "
                            f"{rows[j].start.isoformat()} (REPLAY_MAX_GAP_CANDLES={max_gap_candles})")
    else:
        granularity = 60
    if ohlcv is None:  # every row passed the exact checks, so float() takes them all now
        ohlcv = _floats(rows)
        assert ohlcv is not None
    return ProductSeries(product_id=product_id, source=source, granularity_s=granularity, starts=starts, ohlcv=ohlcv,
                         prices=tuple((r.open, r.high, r.low, r.close) for r in rows),
                         volumes=tuple(r.volume for r in rows))


def _floats(rows: list[OhlcvRow]) -> np.ndarray | None:
    """(n, 5) float64 open, high, low, close, volume (indicators only); None if float() refuses a value."""
    try:
        return np.array([(float(r.open), float(r.high), float(r.low), float(r.close), float(r.volume)) for r in rows],
                        dtype=np.float64)
    except (ValueError, OverflowError):  # a signalling NaN: the exact checks name the row
        return None


def _check_row(where: str, r: OhlcvRow) -> None:
    if int(r.start.timestamp()) % 60:
        raise DataError(f"{where}: candle {r.start.isoformat()} does not start on a whole minute")
    try:
        bad = min(r.open, r.high, r.low, r.close) <= 0
    except InvalidOperation:
        bad = True
    if bad or not all(x.is_finite() for x in (r.open, r.high, r.low, r.close, r.volume)):
        raise DataError(f"{where}: candle {r.start.isoformat()} has a non-positive or non-finite price")
    if r.volume < 0:
        raise DataError(f"{where}: candle {r.start.isoformat()} has a negative volume")
    if r.high < max(r.open, r.close, r.low) or r.low > min(r.open, r.close):
        raise DataError(f"{where}: candle {r.start.isoformat()} is inconsistent (high {r.high}, low {r.low}, "
                        f"open {r.open}, close {r.close})")


def write_csv(path: Path, product_id: str, rows: Iterable[tuple[int, str, str, str, str, str]]) -> None:
    """The simulator's CSV format (start as unix seconds), one product per file."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["start", "open", "high", "low", "close", "volume", "product_id"])
        for start, o, h, lo, c, v in rows:
            w.writerow([start, o, h, lo, c, v, product_id])
