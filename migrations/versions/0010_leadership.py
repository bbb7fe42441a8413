"""leadership: one order writer per account (leader epoch + its history)

Revision ID: 0010
Revises: 0003
Create Date: 2026-12-06 08:50:00

`leadership_state` holds, per role ('webhook'), the current leader epoch: every takeover bumps it
and every order placement checks it in the transaction that writes the order row, so a zombie
leader (paused, partitioned) can never send once another process has taken over. The advisory
lock decides who leads; this row only fences. `leadership_events` is its history, written in the
same transaction as each change.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE leadership_state (
            role        varchar(32) COLLATE "C" PRIMARY KEY,
            epoch       bigint NOT NULL CHECK (epoch >= 0),
            holder      varchar(200) NOT NULL,
            since       timestamptz NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("""
        CREATE TABLE leadership_events (
            id          bigserial PRIMARY KEY,
            role        varchar(32) COLLATE "C" NOT NULL,
            epoch       bigint NOT NULL,
            event       varchar(32) NOT NULL,
            holder      varchar(200) NOT NULL,
            previous_holder varchar(200),
            at          timestamptz NOT NULL,
            details     jsonb NOT NULL DEFAULT '{}'::jsonb
        )""")
    op.execute("CREATE INDEX ix_leadership_events_role_at ON leadership_events (role, at)")


def downgrade() -> None:
    op.execute("DROP TABLE leadership_events")
    op.execute("DROP TABLE leadership_state")
