"""trade_records and passive_orders: the order rows, written before and after every exchange call.

All functions run inside the caller's session/transaction and never commit.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, delete, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.enums import TERMINAL_STATUSES, ExitReason, IngestVia, OrderSource, OrderStatus, Side
from exchange.models import Order
from shared_data import direct
from shared_data.models import PassiveOrder, TradeRecord

OPEN_STATUSES = tuple(
    s.value for s in (OrderStatus.NEW, OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.QUEUED,
                      OrderStatus.CANCEL_QUEUED, OrderStatus.EDIT_QUEUED)
)
_TERMINAL = tuple(s.value for s in TERMINAL_STATUSES)
PLACEHOLDER_PREFIX = "coid:"


def placeholder_order_id(client_order_id: str) -> str:
    """The row's key until the exchange answers with its order id."""
    return f"{PLACEHOLDER_PREFIX}{client_order_id}"


async def record_intent(
    session: AsyncSession, *, client_order_id: str, symbol: str, side: Side, order_type: str,
    price: Decimal | None, size: Decimal | None, quote_size: Decimal | None, source: OrderSource,
    trigger: dict[str, Any], exit_reason: ExitReason | None, exit_target_price: Decimal | None,
    exit_quote_price: Decimal | None, order_time: datetime,
) -> bool:
    """Write the order row before the exchange call. False if this client_order_id was already recorded."""
    stmt = insert(TradeRecord).values(
        order_id=placeholder_order_id(client_order_id), client_order_id=client_order_id, symbol=symbol,
        side=side.value, order_type=order_type, status=OrderStatus.NEW.value, price=price, size=size,
        quote_size=quote_size, trigger=trigger, exit_reason=exit_reason.value if exit_reason else None,
        exit_target_price=exit_target_price, exit_quote_price=exit_quote_price, source=source.value,
        ingest_via=IngestVia.REST.value, order_time=order_time,
    ).on_conflict_do_nothing()
    result = await session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]


# A working order's child: its intent and its link to the working order in one statement (was an
# INSERT then an UPDATE in one transaction). A row already recorded under this client_order_id is
# only re-linked, as the separate UPDATE did; the placeholder order_id is derived from the
# client_order_id, so the two unique keys cannot conflict apart.
# A child's intent row: its columns and what a replayed intent updates (the working-order store's
# insert_with_child writes the same row from a SELECT).
CHILD_INTENT_COLUMNS = """order_id, client_order_id, symbol, side, order_type, status, price,
    size, quote_size, trigger, exit_reason, exit_target_price, exit_quote_price, source, ingest_via, order_time,
    working_order_id, amend_count, escalated"""
CHILD_INTENT_CONFLICT = """ON CONFLICT (client_order_id) DO UPDATE SET working_order_id = excluded.working_order_id,
    amend_count = excluded.amend_count, escalated = excluded.escalated"""
_CHILD_INTENT = f"""INSERT INTO trade_records ({CHILD_INTENT_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14, $15, $16, $17, $18, $19)
{CHILD_INTENT_CONFLICT}"""


async def record_child_intent(
    sessions: async_sessionmaker[AsyncSession], *, client_order_id: str, symbol: str, side: Side,
    order_type: str, price: Decimal | None, size: Decimal | None, source: OrderSource, trigger: dict[str, Any],
    exit_reason: ExitReason | None, exit_target_price: Decimal | None, exit_quote_price: Decimal | None,
    order_time: datetime, working_order_id: str, amend_count: int, escalated: bool,
) -> None:
    """record_intent plus the working-order link, as one autocommit statement before the exchange call."""
    await direct.execute(
        sessions, _CHILD_INTENT, placeholder_order_id(client_order_id), client_order_id, symbol, side.value,
        order_type, OrderStatus.NEW.value, price, size, None, json.dumps(trigger),
        exit_reason.value if exit_reason else None, exit_target_price, exit_quote_price, source.value,
        IngestVia.REST.value, order_time, working_order_id, amend_count, escalated)


async def find_by_client_order_id(session: AsyncSession, client_order_id: str) -> TradeRecord | None:
    return (await session.execute(
        select(TradeRecord).where(TradeRecord.client_order_id == client_order_id)
    )).scalar_one_or_none()


async def mark_sent(session: AsyncSession, client_order_id: str, order_id: str) -> None:
    """The exchange accepted the order: its id replaces the placeholder and NEW becomes PENDING (one
    statement; a row already keyed by the id and past NEW is left alone)."""
    new = TradeRecord.status == OrderStatus.NEW.value
    await session.execute(
        update(TradeRecord)
        .where(TradeRecord.client_order_id == client_order_id, or_(TradeRecord.order_id != order_id, new))
        .values(order_id=order_id, status=case((new, OrderStatus.PENDING.value), else_=TradeRecord.status))
    )


async def mark_sent_alone(sessions: async_sessionmaker[AsyncSession], client_order_id: str, order_id: str) -> None:
    """mark_sent as one autocommit statement through the driver (for a caller with no transaction)."""
    await direct.execute(
        sessions,
        """UPDATE trade_records SET order_id = $2, updated_at = now(),
               status = CASE WHEN status = 'NEW' THEN 'PENDING' ELSE status END
           WHERE client_order_id = $1 AND (order_id <> $2 OR status = 'NEW')""",
        client_order_id, order_id)


async def mark_rejected(session: AsyncSession, client_order_id: str, reason: str) -> None:
    await session.execute(
        update(TradeRecord)
        .where(TradeRecord.client_order_id == client_order_id, TradeRecord.status == OrderStatus.NEW.value)
        .values(status=OrderStatus.REJECTED.value, reject_reason=reason[:500])
    )


async def open_order_exists(session: AsyncSession, symbol: str, side: Side,
                            exclude_client_order_id: str | None = None) -> bool:
    query = open_orders_query(symbol, side)
    if exclude_client_order_id:
        query = query.where(TradeRecord.client_order_id != exclude_client_order_id)
    return (await session.execute(query.limit(1))).first() is not None


async def intent_check(session: AsyncSession, client_order_id: str, symbol: str,
                       side: Side) -> tuple[tuple[str, str] | None, bool]:
    """(order_id, status) of the row recorded under `client_order_id` (None if none), and whether an
    open `side` order exists for `symbol`: find_by_client_order_id and open_order_exists in one statement."""
    mine = TradeRecord.client_order_id == client_order_id
    row = (await session.execute(select(
        select(TradeRecord.order_id).where(mine).scalar_subquery(),
        select(TradeRecord.status).where(mine).scalar_subquery(),
        open_orders_query(symbol, side).exists(),
    ))).one()
    return (None if row[0] is None else (row[0], row[1])), bool(row[2])


def open_orders_query(symbol: str, side: Side) -> Any:
    """The open `side` orders of `symbol` (open_order_exists)."""
    return select(TradeRecord.order_id).where(
        TradeRecord.symbol == symbol, TradeRecord.side == side.value, TradeRecord.status.in_(OPEN_STATUSES))


FACTS_PARAMS = 19  # facts_statement's own parameters: $1…$19; a `then` statement numbers its own from $20


def facts_statement(order: Order, *, via: IngestVia, source: OrderSource, reconciled_at: datetime | None = None,
                    then: str | None = None) -> tuple[str, list[Any]]:
    """One statement (SQL, arguments) that inserts or updates an order's exchange facts, conservatively:
    it never regresses a terminal status, never shrinks filled_size, never touches FIFO-derived fields
    (pnl_usd, cost basis, proceeds, parent ids, remaining_size) or the exit fields we wrote. A row still
    keyed by a placeholder (or another id) under the order's client_order_id takes the exchange's id
    in the same statement. passive_orders is kept in step by it too.

    `then`: more WITH items and the main statement (`x AS (…) SELECT …`, parameters from $20 on) that
    follow these writes' own WITH items; its rows are the statement's rows."""
    args = [order.order_id, order.client_order_id or None, order.product_id, order.side.value,
            order.order_type, order.status.value, order.limit_price, order.stop_price, order.base_size,
            order.quote_size, order.filled_size, order.average_filled_price, order.total_fees, source.value,
            via.value, order.reject_reason, order.created_time, reconciled_at, via.value if reconciled_at else None]
    terminal = order.status.value in _TERMINAL
    if then is None:
        return (_FACTS_DELETE if terminal else _FACTS_SYNC), args
    return _facts_then(terminal, then), args


@functools.lru_cache(maxsize=8)
def _facts_then(terminal: bool, then: str) -> str:
    return f"{_WITH_DELETE if terminal else _WITH_SYNC},\nfacts AS ({_UPSERT_FACTS}),\n{then}"


_TERMINAL_LIST = ", ".join(f"'{s}'" for s in _TERMINAL)
# passive_orders is kept in step by the same statement (a data-modifying WITH on the other table):
# a terminal order leaves it, an open one is upserted with the trade row's own values.
_PASSIVE_DELETE = "DELETE FROM passive_orders WHERE order_id = $1::VARCHAR"
_PASSIVE_UPSERT = """INSERT INTO passive_orders (order_id, client_order_id, symbol, side, order_type, status, price,
        stop_price, size, filled_size, purpose)
    VALUES ($1::VARCHAR, $2::VARCHAR, $3::VARCHAR, $4::VARCHAR, $5::VARCHAR, $6::VARCHAR, $7::NUMERIC, $8::NUMERIC,
        $9::NUMERIC, $11::NUMERIC, NULL)
    ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, filled_size = excluded.filled_size,
        updated_at = now()"""
# order_time: the exchange's creation time, else the column's default (now()) as when it was left out.
_FACT_VALUES = {
    "order_id": "$1::VARCHAR", "client_order_id": "$2::VARCHAR", "symbol": "$3::VARCHAR", "side": "$4::VARCHAR",
    "order_type": "$5::VARCHAR", "status": "$6::VARCHAR", "price": "$7::NUMERIC", "stop_price": "$8::NUMERIC",
    "size": "$9::NUMERIC", "quote_size": "$10::NUMERIC", "filled_size": "$11::NUMERIC",
    "average_filled_price": "$12::NUMERIC", "total_fees_usd": "$13::NUMERIC", "source": "$14::VARCHAR",
    "ingest_via": "$15::VARCHAR", "reject_reason": "$16::VARCHAR",
    "order_time": "COALESCE($17::TIMESTAMP WITH TIME ZONE, now())",
    "last_reconciled_at": "$18::TIMESTAMP WITH TIME ZONE",
    "last_reconciled_via": "$19::VARCHAR",
}
# REJECTED is our own verdict; when the exchange reports the order, its status wins (an order is
# never left rejected while the exchange says it filled).
_FACTS_SET = f"""status = CASE WHEN trade_records.status = 'REJECTED' AND excluded.status <> 'REJECTED'
                THEN excluded.status
            WHEN trade_records.status IN ({_TERMINAL_LIST}) THEN trade_records.status ELSE excluded.status END,
        price = COALESCE(trade_records.price, excluded.price), size = COALESCE(trade_records.size, excluded.size),
        filled_size = GREATEST(trade_records.filled_size, excluded.filled_size),
        average_filled_price = CASE WHEN excluded.filled_size >= trade_records.filled_size
            THEN excluded.average_filled_price ELSE trade_records.average_filled_price END,
        total_fees_usd = GREATEST(trade_records.total_fees_usd, excluded.total_fees_usd),
        reject_reason = COALESCE(excluded.reject_reason, trade_records.reject_reason), updated_at = now(),
        last_reconciled_at = COALESCE(excluded.last_reconciled_at, trade_records.last_reconciled_at),
        last_reconciled_via = COALESCE(excluded.last_reconciled_via, trade_records.last_reconciled_via)"""
# The row of the order's client_order_id under another key (the placeholder, until the exchange's id
# is known) takes the id and the facts: the same assignments, the proposed values (`excluded`) being
# the parameters themselves. This was an UPDATE of the key alone before the upsert, one round trip
# more; the upsert then only inserts when this updated nothing (an insert would collide with the row
# on client_order_id, and a row cannot be changed twice by one statement).
_ATTACH = ("UPDATE trade_records SET order_id = $1::VARCHAR, "
           + re.sub(r"excluded\.(\w+)", lambda m: _FACT_VALUES[m.group(1)], _FACTS_SET)
           + "\n    WHERE client_order_id = $2::VARCHAR AND order_id <> $1::VARCHAR RETURNING 1")
_UPSERT_FACTS = f"""INSERT INTO trade_records ({", ".join(_FACT_VALUES)})
    SELECT {", ".join(_FACT_VALUES.values())}
    WHERE NOT EXISTS (SELECT FROM attached)
    ON CONFLICT (order_id) DO UPDATE SET
        {_FACTS_SET}"""
_WITH_DELETE = f"WITH passive_sync AS ({_PASSIVE_DELETE}),\nattached AS ({_ATTACH})"
_WITH_SYNC = f"WITH passive_sync AS ({_PASSIVE_UPSERT}),\nattached AS ({_ATTACH})"
_FACTS_DELETE = f"{_WITH_DELETE}\n{_UPSERT_FACTS}"
_FACTS_SYNC = f"{_WITH_SYNC}\n{_UPSERT_FACTS}"


async def sync_passive_order(session: AsyncSession, order: Order, purpose: str | None = None) -> None:
    """passive_orders holds exactly the orders that are open on the exchange."""
    await session.execute(_passive_sync(order, purpose))


def _passive_sync(order: Order, purpose: str | None = None) -> Any:
    if order.status.value in _TERMINAL:
        return delete(PassiveOrder).where(PassiveOrder.order_id == order.order_id)
    stmt = insert(PassiveOrder).values(
        order_id=order.order_id, client_order_id=order.client_order_id or None, symbol=order.product_id,
        side=order.side.value, order_type=order.order_type, status=order.status.value, price=order.limit_price,
        stop_price=order.stop_price, size=order.base_size, filled_size=order.filled_size, purpose=purpose,
    )
    return stmt.on_conflict_do_update(
        index_elements=[PassiveOrder.order_id],
        set_={"status": stmt.excluded.status, "filled_size": stmt.excluded.filled_size, "updated_at": text("now()")},
    )


async def replace_passive_orders(session: AsyncSession, open_orders: Sequence[Order]) -> int:
    """Make passive_orders equal to the exchange's open orders; returns how many rows went away."""
    keep = [o.order_id for o in open_orders]
    result = await session.execute(
        delete(PassiveOrder).where(PassiveOrder.order_id.not_in(keep)) if keep else delete(PassiveOrder)
    )
    for order in open_orders:
        await sync_passive_order(session, order)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def working_order_states(session: AsyncSession, client_order_ids: list[str]) -> dict[str, str]:
    """client_order_id → state of the working order (issue #19) the row is a child of, for those that are."""
    if not client_order_ids:
        return {}
    rows = await session.execute(text(
        """SELECT t.client_order_id, w.state FROM trade_records t JOIN working_orders w ON w.id = t.working_order_id
           WHERE t.client_order_id = ANY(:coids)"""), {"coids": list(client_order_ids)})
    return {r[0]: r[1] for r in rows}


async def stale_intents(session: AsyncSession, older_than: datetime) -> list[TradeRecord]:
    """Rows recorded before an exchange call whose answer we never stored (a crash in between)."""
    return list((await session.execute(
        select(TradeRecord).where(TradeRecord.status == OrderStatus.NEW.value, TradeRecord.order_time < older_than)
    )).scalars())
