"""exit reasons of passive bracket exits: bracket_take_profit, bracket_stop

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-06 09:40:00

Passive market making (issue #20) protects every filled passive buy with a Coinbase bracket
order; the sell records which leg filled so the performance report and `exits_by_reason` show it.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("'hard_stop', 'soft_stop', 'take_profit', 'signal', 'trailing_stop', 'protective_stop', 'alert', "
          "'manual'")
AFTER = BEFORE + ", 'bracket_take_profit', 'bracket_stop'"


def upgrade() -> None:
    op.drop_constraint("ck_trade_records_exit_reason", "trade_records", type_="check")
    op.create_check_constraint("ck_trade_records_exit_reason", "trade_records",
                               f"exit_reason IS NULL OR exit_reason IN ({AFTER})")


def downgrade() -> None:
    op.execute("UPDATE trade_records SET exit_reason = NULL "
               "WHERE exit_reason IN ('bracket_take_profit', 'bracket_stop')")
    op.drop_constraint("ck_trade_records_exit_reason", "trade_records", type_="check")
    op.create_check_constraint("ck_trade_records_exit_reason", "trade_records",
                               f"exit_reason IS NULL OR exit_reason IN ({BEFORE})")
