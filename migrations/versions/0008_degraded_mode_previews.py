"""degraded mode (state + events) and order previews

Revision ID: 0008
Revises: 0003
Create Date: 2026-12-06 09:00:00

Degraded mode follows the risk breakers' shape: one row of current state per scope and an events
table written in the same transaction as every change. `order_previews` records each preview the
order manager asked for before a market order, and whether the order was then sent.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "degraded_mode_state",
        sa.Column("scope", sa.String(32), primary_key=True),  # "exchange" today; room for more
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("family", sa.String(32)),
        sa.Column("cause", sa.Text),
        sa.Column("since", TS),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "degraded_mode_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),  # enter | leave
        sa.Column("family", sa.String(32)),
        sa.Column("cause", sa.Text),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("event IN ('enter', 'leave')", name="ck_degraded_mode_events_event"),
    )
    op.create_index("ix_degraded_mode_events_time", "degraded_mode_events", ["scope", "created_at"])
    op.create_table(
        "order_previews",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("client_order_id", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("notional_usd", sa.Numeric, nullable=False),
        sa.Column("order_total", sa.Numeric),
        sa.Column("commission_total", sa.Numeric),
        sa.Column("slippage_pct", sa.Numeric),
        sa.Column("errors", sa.Text),
        sa.Column("decision", sa.String(16), nullable=False),  # send | block | exempt
        sa.Column("reason", sa.Text),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("decision IN ('send', 'block', 'exempt')", name="ck_order_previews_decision"),
    )
    op.create_index("ix_order_previews_coid", "order_previews", ["client_order_id"])


def downgrade() -> None:
    op.drop_index("ix_order_previews_coid", table_name="order_previews")
    op.drop_table("order_previews")
    op.drop_index("ix_degraded_mode_events_time", table_name="degraded_mode_events")
    op.drop_table("degraded_mode_events")
    op.drop_table("degraded_mode_state")
