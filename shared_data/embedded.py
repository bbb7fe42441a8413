"""Embedded PostgreSQL (pgserver) for when DATABASE_URL is unset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.logging import get_logger

log = get_logger(__name__)


class EmbeddedPostgres:
    """A PostgreSQL server under `pgdata`, reused across starts, stopped by `stop()`."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = Path(pgdata)
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server; return its admin URL (`postgresql://…/postgres`)."""
        import warnings

        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
            warnings.simplefilter("ignore")
            import pgserver  # imported lazily: only the embedded mode needs it

        self.pgdata.mkdir(parents=True, exist_ok=True)
        # cleanup_mode='stop': the server stops when the last process using it calls cleanup().
        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        uri: str = self._server.get_uri()
        log.info("embedded_postgres_started", pgdata=str(self.pgdata))
        return uri

    def stop(self) -> None:
        if self._server is not None:
            try:
                self._server.cleanup()
                log.info("embedded_postgres_stopped", pgdata=str(self.pgdata))
            finally:
                self._server = None
