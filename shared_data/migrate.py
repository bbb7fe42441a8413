"""Alembic, driven from code: upgrade/downgrade and the at-head check the daemon runs at start."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text

from shared_data.db import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

# alembic is imported where it is used: a replay, the reports and the CLI's other verbs read this module
# (ROOT, set_view_timezone) and need none of it (≈ 0.13 s of start-up).

ROOT = Path(__file__).resolve().parent.parent


class SchemaNotAtHead(RuntimeError):
    pass


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def _run(url: str, fn: str, revision: str) -> None:
    engine = create_engine(url, pool_size=1, statement_timeout_ms=0)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_with_connection, fn, revision)
    finally:
        await engine.dispose()


def _with_connection(connection: Connection, fn: str, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    getattr(command, fn)(cfg, revision)


async def upgrade(url: str, revision: str = "head") -> None:
    await _run(url, "upgrade", revision)


async def downgrade(url: str, revision: str = "base") -> None:
    await _run(url, "downgrade", revision)


async def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    finally:
        await engine.dispose()


async def ensure_at_head(url: str) -> None:
    """Refuse to run on a schema that is behind (or ahead of) this code."""
    current = await current_revision(url)
    head = head_revision()
    if current != head:
        raise SchemaNotAtHead(
            f"database schema is at {current or 'nothing (empty database)'}, this code needs {head}: "
            "run `python main.py migrate` (or ./run.sh migrate)"
        )


async def set_view_timezone(url: str, tz: str) -> None:
    """The SQL views date trades in `bottrader.tax_timezone`: make TAX_TIMEZONE the database default,
    so psql sessions see the same dates as the reports."""
    from zoneinfo import ZoneInfo

    ZoneInfo(tz)  # refuse an unknown zone before it reaches SQL
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            name = await conn.scalar(text("SELECT current_database()"))
            await conn.execute(text(f'ALTER DATABASE "{name}" SET bottrader.tax_timezone = \'{tz}\''))
    finally:
        await engine.dispose()
