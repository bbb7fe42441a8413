"""PostgreSQL plumbing shared by the fill recorder, the ledger and the rebuild: the caller's
transaction as a raw asyncpg connection, the FIFO advisory lock, and fast text-format COPY."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:  # SQLAlchemy stays out of FIFO worker processes (~0.3 s of their start-up)
    from sqlalchemy.ext.asyncio import AsyncSession

    from fifo_engine.engine import SliceRow

# pg_advisory_xact_lock key taken by every writer of fifo_allocations (ledger and rebuild), so
# allocations are never computed from a book that another writer is changing. Arbitrary constant.
FIFO_LOCK_KEY = 0x5F1F0


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under `session`, inside the session's transaction.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily on the first statement; the raw connection is
    only safe once that happened, so a trivial statement is sent through the session first."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    if not driver.is_in_transaction():
        from sqlalchemy import text

        await session.execute(text("SELECT 1"))
        if not driver.is_in_transaction():
            raise RuntimeError("the session is not in a transaction (AUTOCOMMIT?): FIFO writes need one")
    return driver


async def fetch_first(session: AsyncSession, query: str, *args: Any) -> tuple[asyncpg.Connection, list[Any]]:
    """Run `query` as a statement of the session's transaction and return (driver, rows).

    When the transaction has not sent BEGIN yet, the statement goes through SQLAlchemy (which sends
    BEGIN first) instead of costing an extra `SELECT 1` round trip; afterwards the raw driver is
    safe to use for the rest of the transaction."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    if driver.is_in_transaction():
        return driver, list(await driver.fetch(query, *args))
    result = await conn.exec_driver_sql(query, args)
    rows = list(result.all()) if result.returns_rows else []
    if not driver.is_in_transaction():
        raise RuntimeError("the session is not in a transaction (AUTOCOMMIT?): FIFO writes need one")
    return driver, rows


def session_dsn(session: AsyncSession) -> str:
    """A libpq URL of the session's database (password included: for worker processes, never logged)."""
    from sqlalchemy import Connection

    from shared_data.db import to_plain_url

    bind = session.get_bind()
    url = bind.engine.url if isinstance(bind, Connection) else bind.url
    return to_plain_url(url.render_as_string(hide_password=False))


LOCK_SQL = "SELECT pg_advisory_xact_lock($1)"


async def lock_fifo(driver: asyncpg.Connection) -> None:
    """Serialize FIFO writers until the end of the current transaction."""
    await driver.execute(LOCK_SQL, FIFO_LOCK_KEY)


# ---- text-format COPY ---------------------------------------------------------------------------
# asyncpg's binary NUMERIC encoder is ~10× slower than str(Decimal); text COPY keeps the exact
# digits and scale of every Decimal (numeric_in preserves the scale of its input).
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def needs_escape(*values: str) -> bool:
    # Four substring scans (memchr speed) cost less than one regex search, on short and long strings.
    return any("\\" in v or "\t" in v or "\n" in v or "\r" in v for v in values)


def escape_copy(value: str) -> str:
    return value.translate(_ESCAPES)


def copy_value(value: Any) -> str:
    """One value in PostgreSQL's text COPY format (general, slower path)."""
    if value is None:
        return NULL
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} in COPY data")
        return value.isoformat()
    if isinstance(value, Decimal | int):
        return str(value)
    return str(value).translate(_ESCAPES)


def encode_rows(rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows of any values as text COPY data."""
    return "".join("\t".join(map(copy_value, row)) + "\n" for row in rows).encode()


# fifo_allocations columns in the order of encode_slices' lines: the sell's, the lot's, the slice's.
SLICE_COPY_COLUMNS = (
    "portfolio_id", "symbol", "sell_order_id", "sell_trade_id", "sell_price", "sell_fees_per_unit", "sell_time",
    "buy_order_id", "buy_trade_id", "buy_price", "buy_fees_per_unit", "buy_time",
    "slice_index", "allocated_size", "cost_basis_usd", "proceeds_usd", "net_proceeds_usd", "pnl_usd", "holding_term",
    "missing_basis",
)
_NO_LOT = "\t".join((NULL, NULL, "0", "0", NULL))  # a missing-basis slice: no buy, zero price and fee


def encode_slices(rows: Iterable[SliceRow], clean_ids: bool) -> bytes:
    """FifoBook.apply_rows' slices as text COPY data (SLICE_COPY_COLUMNS). The text of a sell is
    made once for all its slices and a lot's once for good (kept in its `memo`); `clean_ids` says
    that no id of the chunk's fills needs escaping (a lot's ids are checked on their own: its fill
    may have come in an earlier chunk)."""
    out = []
    last_sell = None
    head = ""
    for sell, lot, index, size, basis, proceeds, net, pnl, term in rows:
        if sell is not last_sell:
            last_sell = sell
            pf, symbol, order_id, trade_id, price, fee_per_unit, time = sell
            ids = (pf, symbol, order_id, trade_id) if clean_ids else tuple(map(escape_copy, sell[:4]))
            head = "\t".join((*ids, str(price), str(fee_per_unit), time))
        if lot is None:
            out.append("\t".join((head, _NO_LOT, str(index), str(size), str(basis), str(proceeds), str(net), str(pnl),
                                  term, "t")))
            continue
        lot_text = lot.memo
        if lot_text is None:
            ids = (lot.order_id, lot.trade_id)
            if needs_escape(ids[0] + ids[1]):
                ids = tuple(map(escape_copy, ids))
            lot_text = lot.memo = "\t".join((*ids, str(lot.price), str(lot.fee_per_unit), lot.time_text))
        out.append("\t".join((head, lot_text, str(index), str(size), str(basis), str(proceeds), str(net), str(pnl),
                              term, "f")))
    out.append("")
    return "\n".join(out).encode()


async def copy_text(driver: asyncpg.Connection, table: str, columns: Sequence[str], data: bytes) -> None:
    if not data:
        return
    await driver.copy_to_table(table, source=_BytesSource(data), columns=list(columns), format="text")


class _BytesSource:
    """An async iterable of one bytes chunk (asyncpg's copy_to_table streams from it)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __aiter__(self) -> _BytesSource:
        return self

    async def __anext__(self) -> bytes:
        if not self._data:
            raise StopAsyncIteration
        data, self._data = self._data, b""
        return data
