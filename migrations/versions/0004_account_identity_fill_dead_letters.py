"""account identity of the database; dead-lettered fills

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 09:00:00

`account_identity` holds one row: which exchange account this database's trading tables belong to
(paper: the simulator account's id; live: the API key name and its portfolio uuid). The daemon
refuses to start against another account.

`fill_dead_letters` keeps an exchange fill that could not be recorded after bounded retries, raw as
the exchange reported it, with the error; `python main.py fills retry` records it later.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_identity",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("trading_mode", sa.String(16), nullable=False),
        sa.Column("portfolio_uuid", sa.String(64), nullable=False),
        sa.Column("key_name", sa.String(256), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("id = 1", name="account_identity_single_row"),
    )
    op.create_table(
        "fill_dead_letters",
        sa.Column("trade_id", sa.String(64, collation="C"), primary_key=True),
        sa.Column("order_id", sa.String(64, collation="C"), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("raw_fill", postgresql.JSONB(), nullable=False),
        sa.Column("raw_order", postgresql.JSONB(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_via", sa.String(32), nullable=True),
    )
    op.create_index("fill_dead_letters_open", "fill_dead_letters", ["symbol"],
                    postgresql_where=sa.text("resolved_at IS NULL"))


def downgrade() -> None:
    op.drop_index("fill_dead_letters_open", table_name="fill_dead_letters")
    op.drop_table("fill_dead_letters")
    op.drop_table("account_identity")
