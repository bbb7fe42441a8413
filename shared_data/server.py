"""Which PostgreSQL to use: DATABASE_URL's server, or the embedded one under PGDATA_DIR."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.logging import get_logger
from core.settings import Settings
from shared_data.db import APP_DATABASE, create_database, redact_url
from shared_data.embedded import EmbeddedPostgres

log = get_logger(__name__)


@asynccontextmanager
async def server_url(settings: Settings) -> AsyncIterator[str]:
    """Yield a URL of the server: DATABASE_URL as given, or the embedded one's (started for as long as
    the context lasts). Callers that create their own databases on it start here."""
    if settings.database_url is not None:
        yield settings.database_url.get_secret_value()
        return
    embedded = EmbeddedPostgres(settings.pgdata_dir)
    admin_url = embedded.start()
    try:
        yield admin_url
    finally:
        embedded.stop()


@asynccontextmanager
async def database_url(settings: Settings) -> AsyncIterator[str]:
    """Yield the application's database URL; an embedded server lives as long as the context."""
    async with server_url(settings) as server:
        if settings.database_url is not None:
            log.info("database_selected", kind="external", url=redact_url(server))
            yield server
            return
        url = await create_database(server, APP_DATABASE)
        log.info("database_selected", kind="embedded", pgdata=str(settings.pgdata_dir))
        yield url
