"""working orders: post-only entries and resting exits, their every step; dust kept apart

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-06 09:00:00

A working order is one intent (enter this much, exit this position) worked on the book by one or
more exchange orders: a post-only entry re-priced as the bid moves and cancelled at its TTL, a
resting exit limit re-priced and escalated to market. `working_orders` holds its state and the
ordered list of its steps (placed, re-priced, rejected post-only, filled, cancelled, escalated);
each exchange order of it points back with `trade_records.working_order_id` and carries the
re-price count and whether it was the escalation.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "working_orders",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(8), nullable=False),  # entry / exit
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("order_type", sa.String(16), nullable=False),  # post_only / limit / market
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),  # working / filled / partial / cancelled / escalated / failed
        sa.Column("target_size", sa.Numeric(38, 18), nullable=False),
        sa.Column("filled_size", sa.Numeric(38, 18), nullable=False, server_default="0"),
        sa.Column("limit_price", sa.Numeric(38, 18)),
        sa.Column("current_order_id", sa.String(64)),
        sa.Column("reprice_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("post_only_rejections", sa.Integer, nullable=False, server_default="0"),
        sa.Column("escalated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("exit_reason", sa.String(32)),
        sa.Column("hard_stop_price", sa.Numeric(38, 18)),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("steps", postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    op.create_index("ix_working_orders_state", "working_orders", ["state", "symbol"])
    op.add_column("trade_records", sa.Column("working_order_id", sa.String(64)))
    op.add_column("trade_records", sa.Column("reprice_count", sa.Integer))
    op.add_column("trade_records", sa.Column("escalated", sa.Boolean))
    op.create_index("ix_trade_records_working_order_id", "trade_records", ["working_order_id"])


def downgrade() -> None:
    op.drop_index("ix_trade_records_working_order_id", table_name="trade_records")
    for column in ("escalated", "reprice_count", "working_order_id"):
        op.drop_column("trade_records", column)
    op.drop_index("ix_working_orders_state", table_name="working_orders")
    op.drop_table("working_orders")
