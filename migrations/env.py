"""Alembic environment. Driven by shared_data.migrate (which passes a connection), or by the
alembic CLI with `-x url=postgresql://…` / the app settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from shared_data.models import Base

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True,
                      transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    from shared_data.db import create_engine

    engine = create_engine(url, pool_size=1, statement_timeout_ms=0)
    async with engine.connect() as conn:
        await conn.run_sync(_configure_and_run)
        await conn.commit()
    await engine.dispose()


def _url_from_cli_or_settings() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url
    from core.settings import load_settings

    settings = load_settings()
    if settings.database_url is None:
        raise SystemExit("set DATABASE_URL or pass -x url=… (or use `python main.py migrate`)")
    return settings.database_url.get_secret_value()


if context.is_offline_mode():
    context.configure(url=_url_from_cli_or_settings(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
    else:
        asyncio.run(_run_async(_url_from_cli_or_settings()))
