"""trailing_stop_events and exit_events: the history beside the trailing-stop state

Revision ID: 0009
Revises: 0003
Create Date: 2026-12-06 09:00:00

Appended in the same transaction as the state change they describe (DESIGN §6). The
(symbol, id) indexes serve "the last N events of a symbol"; the `at` indexes serve the
last-hour counts of /health/trailing_stop and the retention delete.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the kinds at this revision (a migration must not change when the enums do).
TRAILING_KINDS = ("created", "activated", "updated", "stop_moved", "exchange_stop_placed", "exchange_stop_edited",
                  "exchange_stop_replaced", "exchange_stop_failed", "triggered", "removed", "warning")
EXIT_KINDS = ("decided", "order_sent", "repriced", "escalated", "filled", "failed")


def _in(kinds: Sequence[str]) -> str:
    return ", ".join(f"'{k}'" for k in kinds)


def upgrade() -> None:
    op.create_table(
        "trailing_stop_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("entry_price", sa.Numeric(), nullable=False),
        sa.Column("position_opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("position_size", sa.Numeric(), nullable=True),
        sa.Column("price", sa.Numeric(), nullable=True),
        sa.Column("highest_price", sa.Numeric(), nullable=True),
        sa.Column("stop_before", sa.Numeric(), nullable=True),
        sa.Column("stop_after", sa.Numeric(), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("final_state", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(f"kind IN ({_in(TRAILING_KINDS)})", name="ck_trailing_stop_events_kind"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trailing_stop_events_symbol_id", "trailing_stop_events", ["symbol", "id"])
    op.create_index("ix_trailing_stop_events_at", "trailing_stop_events", ["at"])
    op.create_table(
        "exit_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("order_kind", sa.String(length=32), nullable=True),
        sa.Column("size", sa.Numeric(), nullable=True),
        sa.Column("target_price", sa.Numeric(), nullable=True),
        sa.Column("quote_price", sa.Numeric(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(f"kind IN ({_in(EXIT_KINDS)})", name="ck_exit_events_kind"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exit_events_symbol_id", "exit_events", ["symbol", "id"])
    op.create_index("ix_exit_events_at", "exit_events", ["at"])


def downgrade() -> None:
    op.drop_table("exit_events")
    op.drop_table("trailing_stop_events")
