"""History tables beside the trailing-stop state (migration 0009): `trailing_stop_events`, `exit_events`.

Rows are appended in the same transaction as the state change they describe and never updated;
`id` orders a symbol's events as they were written. Old rows go after `EVENT_RETENTION_DAYS`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from market_data.stop_events import ExitEventKind, TrailingEventKind
from shared_data.models import TS, Base


def _in(kinds: type[TrailingEventKind] | type[ExitEventKind]) -> str:
    return ", ".join(f"'{k.value}'" for k in kinds)


class TrailingStopEventRow(Base):
    __tablename__ = "trailing_stop_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(TS)
    state: Mapped[str] = mapped_column(String(16))
    entry_price: Mapped[Decimal]
    position_opened_at: Mapped[datetime | None]
    position_size: Mapped[Decimal | None]
    price: Mapped[Decimal | None]
    highest_price: Mapped[Decimal | None]
    stop_before: Mapped[Decimal | None]
    stop_after: Mapped[Decimal | None]
    order_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    final_state: Mapped[dict[str, Any] | None]
    recorded_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())

    __table_args__ = (
        CheckConstraint(f"kind IN ({_in(TrailingEventKind)})", name="ck_trailing_stop_events_kind"),
        Index("ix_trailing_stop_events_symbol_id", "symbol", "id"),
        Index("ix_trailing_stop_events_at", "at"),
    )


class ExitEventRow(Base):
    __tablename__ = "exit_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(TS)
    reason: Mapped[str | None] = mapped_column(String(32))
    attempt: Mapped[int | None] = mapped_column(Integer)
    order_id: Mapped[str | None] = mapped_column(String(64))
    order_kind: Mapped[str | None] = mapped_column(String(32))
    size: Mapped[Decimal | None]
    target_price: Mapped[Decimal | None]
    quote_price: Mapped[Decimal | None]
    detail: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())

    __table_args__ = (
        CheckConstraint(f"kind IN ({_in(ExitEventKind)})", name="ck_exit_events_kind"),
        Index("ix_exit_events_symbol_id", "symbol", "id"),
        Index("ix_exit_events_at", "at"),
    )
