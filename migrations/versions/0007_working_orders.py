"""working orders: post-only entries and resting exits, their every step; dust kept apart

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-06 09:00:00

A working order is one intent (enter this much, exit this position) worked on the book by one or
more exchange orders: a post-only entry re-priced as the bid moves and cancelled at its TTL, a
resting exit limit re-priced and escalated to market. `working_orders` holds its state and the
ordered list of its steps (placed, re-priced, rejected post-only, filled, cancelled, escalated);
each exchange order of it points back with `trade_records.working_order_id` and carries the
re-price count (`amend_count`) and whether it was the escalation.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The one definition of a position (core/position_rule.py), for SQL readers: sighook's entry check
# and the open_positions view. A symbol without a recorded rule counts any positive size.
IS_POSITION_FUNCTION = """
CREATE OR REPLACE FUNCTION bt_is_position(p_symbol text, p_size numeric) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN r.symbol IS NULL THEN p_size > 0
    WHEN r.base_increment <= 0 THEN p_size > 0 AND p_size >= r.base_min_size
    ELSE floor(p_size / r.base_increment) * r.base_increment >= greatest(r.base_min_size, r.base_increment)
  END
  FROM (SELECT 1) AS one LEFT JOIN product_rules r ON r.symbol = p_symbol
$$
"""

OPEN_POSITIONS = """
CREATE OR REPLACE VIEW open_positions AS
SELECT symbol,
       sum(remaining_size) AS size,
       sum(remaining_size * price) / sum(remaining_size) AS entry_price,
       sum(remaining_basis_usd) AS cost_basis_usd,
       min(buy_time) AS opened_at,
       count(*) AS lots
FROM open_lots
GROUP BY symbol
HAVING bt_is_position(symbol, sum(remaining_size))
"""

DUST_BALANCES = """
CREATE VIEW dust_balances AS
SELECT symbol, sum(remaining_size) AS size, sum(remaining_basis_usd) AS cost_basis_usd, count(*) AS lots
FROM open_lots
GROUP BY symbol
HAVING sum(remaining_size) > 0 AND NOT bt_is_position(symbol, sum(remaining_size))
"""

OPEN_POSITIONS_0002 = """
CREATE OR REPLACE VIEW open_positions AS
SELECT symbol,
       sum(remaining_size) AS size,
       sum(remaining_size * price) / sum(remaining_size) AS entry_price,
       sum(remaining_basis_usd) AS cost_basis_usd,
       min(buy_time) AS opened_at,
       count(*) AS lots
FROM open_lots
GROUP BY symbol
"""


def upgrade() -> None:
    op.create_table(
        "product_rules",
        sa.Column("symbol", sa.String(32), primary_key=True),
        sa.Column("base_increment", sa.Numeric(38, 18), nullable=False),
        sa.Column("base_min_size", sa.Numeric(38, 18), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(IS_POSITION_FUNCTION)
    op.execute(OPEN_POSITIONS)
    op.execute(DUST_BALANCES)
    op.create_table(
        "working_orders",
        sa.Column("id", sa.String(64), primary_key=True),
        # Child client_order_ids derive from (intent_key, child number): a restart resumes the sequence.
        sa.Column("intent_key", sa.String(300), nullable=False),
        sa.Column("children", sa.Integer, nullable=False, server_default="0"),
        sa.Column("trigger", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("exit_target_price", sa.Numeric(38, 18)),
        sa.Column("exit_quote_price", sa.Numeric(38, 18)),
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
        # Re-prices so far ("amend": no money word in the name, so no NUMERIC check flags it).
        sa.Column("amend_count", sa.Integer, nullable=False, server_default="0"),
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
    op.add_column("trade_records", sa.Column("amend_count", sa.Integer))
    op.add_column("trade_records", sa.Column("escalated", sa.Boolean))
    op.create_index("ix_trade_records_working_order_id", "trade_records", ["working_order_id"])


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS dust_balances")
    op.execute(OPEN_POSITIONS_0002)
    op.execute("DROP FUNCTION IF EXISTS bt_is_position(text, numeric)")
    op.drop_table("product_rules")
    op.drop_index("ix_trade_records_working_order_id", table_name="trade_records")
    for column in ("escalated", "amend_count", "working_order_id"):
        op.drop_column("trade_records", column)
    op.drop_index("ix_working_orders_state", table_name="working_orders")
    op.drop_table("working_orders")
