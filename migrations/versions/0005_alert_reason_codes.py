"""alerts.reason_code: the stable code of why an alert was refused or not ordered

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-06 09:00:00

`status_reason` keeps the human sentence; `reason_code` holds the code from
webhook/alerts/reasons.py (README "Refusal reasons") so refusals can be counted and filtered
without parsing text. Nullable: accepted and ordered alerts have none, older rows neither.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("reason_code", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("alerts", "reason_code")
