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
async def database_url(settings: Settings) -> AsyncIterator[str]:
    """Yield the application's database URL; an embedded server lives as long as the context."""
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        log.info("database_selected", kind="external", url=redact_url(url))
        yield url
        return
    embedded = EmbeddedPostgres(settings.pgdata_dir)
    admin_url = embedded.start()
    try:
        url = await create_database(admin_url, APP_DATABASE)
        log.info("database_selected", kind="embedded", pgdata=str(settings.pgdata_dir))
        yield url
    finally:
        embedded.stop()
