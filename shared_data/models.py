"""SQLAlchemy 2 models for every table of DESIGN §3. Money is NUMERIC (exact, unconstrained scale)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.enums import (
    AlertStatus,
    ExitReason,
    HoldingTerm,
    IngestVia,
    OrderSource,
    OrderStatus,
    Side,
    TrailingState,
    sql_in,
)

# Unconstrained NUMERIC: stores exactly the Decimal given (per-unit fees need ≥ 18 places).
Money = Numeric(asdecimal=True)
TS = DateTime(timezone=True)


class Base(DeclarativeBase):
    type_annotation_map = {Decimal: Money, datetime: TS, dict[str, Any]: JSONB}


class TradeRecord(Base):
    """One row per order we placed or learned about."""

    __tablename__ = "trade_records"

    order_id: Mapped[str] = mapped_column(String(64, collation="C"), primary_key=True)
    client_order_id: Mapped[str | None] = mapped_column(String(128, collation="C"), unique=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    order_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    price: Mapped[Decimal | None]
    stop_price: Mapped[Decimal | None]
    size: Mapped[Decimal | None]
    quote_size: Mapped[Decimal | None]
    filled_size: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    average_filled_price: Mapped[Decimal | None]
    total_fees_usd: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    trigger: Mapped[dict[str, Any] | None]
    exit_reason: Mapped[str | None] = mapped_column(String(32))
    exit_target_price: Mapped[Decimal | None]
    exit_quote_price: Mapped[Decimal | None]
    source: Mapped[str] = mapped_column(String(16))
    ingest_via: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[str | None] = mapped_column(String(64))
    parent_ids: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)))
    pnl_usd: Mapped[Decimal | None]
    cost_basis_usd: Mapped[Decimal | None]
    sale_proceeds_usd: Mapped[Decimal | None]
    net_sale_proceeds_usd: Mapped[Decimal | None]
    remaining_size: Mapped[Decimal | None]
    realized_profit: Mapped[Decimal | None]
    reject_reason: Mapped[str | None] = mapped_column(Text)
    order_time: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now(), onupdate=func.now())
    last_reconciled_at: Mapped[datetime | None]
    last_reconciled_via: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        CheckConstraint(f"side IN ({sql_in(Side)})", name="ck_trade_records_side"),
        CheckConstraint(f"status IN ({sql_in(OrderStatus)})", name="ck_trade_records_status"),
        CheckConstraint(f"source IN ({sql_in(OrderSource)})", name="ck_trade_records_source"),
        CheckConstraint(f"ingest_via IN ({sql_in(IngestVia)})", name="ck_trade_records_ingest_via"),
        CheckConstraint(
            f"exit_reason IS NULL OR exit_reason IN ({sql_in(ExitReason)})", name="ck_trade_records_exit_reason"
        ),
        Index("ix_trade_records_symbol_side_status", "symbol", "side", "status"),
        Index("ix_trade_records_order_time", "order_time"),
        Index("ix_trade_records_exit_reason", "exit_reason", postgresql_where=text("exit_reason IS NOT NULL")),
        {"postgresql_with": {"fillfactor": 50}},  # room for HOT updates (migration 0003)
    )


class Fill(Base):
    """One row per exchange fill; `trade_id` makes recording idempotent."""

    __tablename__ = "fills"

    trade_id: Mapped[str] = mapped_column(String(64, collation="C"), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64, collation="C"))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[Decimal]
    size: Mapped[Decimal]
    commission: Mapped[Decimal]
    liquidity_indicator: Mapped[str | None] = mapped_column(String(16))
    trade_type: Mapped[str] = mapped_column(String(16), server_default=text("'FILL'"))
    trade_time: Mapped[datetime]
    sequence_timestamp: Mapped[datetime | None]
    portfolio_id: Mapped[str] = mapped_column(String(64), server_default=text("'default'"))
    ingest_via: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())

    __table_args__ = (
        CheckConstraint(f"side IN ({sql_in(Side)})", name="ck_fills_side"),
        CheckConstraint(f"ingest_via IN ({sql_in(IngestVia)})", name="ck_fills_ingest_via"),
        CheckConstraint("size > 0", name="ck_fills_size_positive"),
        Index("ix_fills_order_id", "order_id"),
        Index("ix_fills_symbol_time", "symbol", "trade_time", "trade_id"),
        Index("ix_fills_trade_time", "trade_time"),
    )


class FifoAllocation(Base):
    """One row per (sell fill, buy lot) slice. `missing_basis` marks sells beyond known inventory."""

    __tablename__ = "fifo_allocations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[str] = mapped_column(String(64), server_default=text("'default'"))
    symbol: Mapped[str] = mapped_column(String(32))
    sell_order_id: Mapped[str] = mapped_column(String(64, collation="C"))
    buy_order_id: Mapped[str | None] = mapped_column(String(64, collation="C"))
    sell_trade_id: Mapped[str] = mapped_column(String(64, collation="C"))
    buy_trade_id: Mapped[str | None] = mapped_column(String(64, collation="C"))
    slice_index: Mapped[int] = mapped_column(Integer)
    allocated_size: Mapped[Decimal]
    buy_price: Mapped[Decimal]
    sell_price: Mapped[Decimal]
    buy_fees_per_unit: Mapped[Decimal]
    sell_fees_per_unit: Mapped[Decimal]
    cost_basis_usd: Mapped[Decimal]
    proceeds_usd: Mapped[Decimal]
    net_proceeds_usd: Mapped[Decimal]
    pnl_usd: Mapped[Decimal]
    buy_time: Mapped[datetime | None]
    sell_time: Mapped[datetime]
    holding_term: Mapped[str] = mapped_column(String(8))
    missing_basis: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())

    __table_args__ = (
        UniqueConstraint("sell_trade_id", "slice_index", name="uq_fifo_allocations_sell_slice"),
        CheckConstraint(f"holding_term IN ({sql_in(HoldingTerm)})", name="ck_fifo_allocations_term"),
        CheckConstraint("allocated_size > 0", name="ck_fifo_allocations_size_positive"),
        CheckConstraint(
            "missing_basis OR (buy_order_id IS NOT NULL AND buy_trade_id IS NOT NULL)",
            name="ck_fifo_allocations_basis_known",
        ),
        Index("ix_fifo_allocations_symbol_sell_time", "symbol", "sell_time"),
        Index("ix_fifo_allocations_sell_order", "sell_order_id"),
        Index("ix_fifo_allocations_buy_trade", "buy_trade_id"),
    )


class PassiveOrder(Base):
    """Open orders on the exchange, synced by the reconciler and the user channel."""

    __tablename__ = "passive_orders"

    order_id: Mapped[str] = mapped_column(String(64, collation="C"), primary_key=True)
    client_order_id: Mapped[str | None] = mapped_column(String(128, collation="C"))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    order_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    price: Mapped[Decimal | None]
    stop_price: Mapped[Decimal | None]
    size: Mapped[Decimal | None]
    filled_size: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    purpose: Mapped[str | None] = mapped_column(String(32))  # e.g. exit, protective_stop, entry
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now(), onupdate=func.now())

    __table_args__ = (Index("ix_passive_orders_symbol_side", "symbol", "side"),)


class SharedData(Base):
    """Key/value JSON shared between sighook and webhook (matrix, tickers, cursors)."""

    __tablename__ = "shared_data"

    data_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now(), onupdate=func.now())


class TrailingStopState(Base):
    """Persisted trailing-stop state machine of one open position."""

    __tablename__ = "trailing_stop_state"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    entry_price: Mapped[Decimal]
    highest_price: Mapped[Decimal]
    lowest_price: Mapped[Decimal | None]
    current_stop: Mapped[Decimal | None]
    atr: Mapped[Decimal | None]
    stop_order_id: Mapped[str | None] = mapped_column(String(64))
    stop_order_price: Mapped[Decimal | None]
    stop_order_moved_at: Mapped[datetime | None]
    activated_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    last_update_time: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    update_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())

    __table_args__ = (CheckConstraint(f"state IN ({sql_in(TrailingState)})", name="ck_trailing_stop_state"),)


class Alert(Base):
    """The webhook inbox: every alert that reached us, with its outcome. `dedup_key` is unique."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    dedup_key: Mapped[str] = mapped_column(String(128), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str | None] = mapped_column(String(8))
    size: Mapped[Decimal | None]
    quote_amount: Mapped[Decimal | None]
    price: Mapped[Decimal | None]
    timenow: Mapped[datetime | None]
    strategy: Mapped[dict[str, Any] | None]
    payload: Mapped[dict[str, Any] | None]  # parsed body with secrets masked
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(Text)
    reason_code: Mapped[str | None] = mapped_column(String(32))  # webhook/alerts/reasons.py (migration 0005)
    client_order_id: Mapped[str | None] = mapped_column(String(128))
    order_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    received_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    processed_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(f"status IN ({sql_in(AlertStatus)})", name="ck_alerts_status"),
        Index("ix_alerts_pending", "received_at", postgresql_where=text("status = 'accepted'")),
        Index("ix_alerts_received_at", "received_at"),
    )


class RiskState(Base):
    """Current state of each circuit breaker; survives restarts."""

    __tablename__ = "risk_state"

    breaker: Mapped[str] = mapped_column(String(32), primary_key=True)
    tripped: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None]
    tripped_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now(), onupdate=func.now())


class RiskEvent(Base):
    """History of breaker trips and resets."""

    __tablename__ = "risk_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    breaker: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(16))  # trip | reset
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())

    __table_args__ = (Index("ix_risk_events_breaker_time", "breaker", "created_at"),)
