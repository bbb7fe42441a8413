"""Embedded PostgreSQL (pgserver) for when DATABASE_URL is unset, with one clear owner.

Who may stop the server is decided by kernel file locks beside the data folder, never by a list of
pids on disk (a SIGKILLed process cannot remove itself from such a list, and its pid may be reused):

- every bottrader process using the server holds a *shared* `flock` on `<pgdata>.users` for as
  long as it uses it; the kernel drops it when the process ends, however it ends;
- start and stop are serialised by an exclusive `flock` on `<pgdata>.lock`;
- whoever can take `<pgdata>.users` *exclusively* is alone: at start, a server found running then is
  a crashed owner's (adopted, and logged); at stop, the last process out stops the server with
  `pg_ctl stop -m fast`. A process that leaves others using the server leaves it running for them.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO, Any

from core.logging import get_logger

log = get_logger(__name__)

STOP_TIMEOUT_S = 60.0


class EmbeddedPostgres:
    """A PostgreSQL server under `pgdata`, reused across starts; the last user's `stop()` stops it."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = Path(pgdata).expanduser().resolve()
        self._server: Any = None
        self._users: IO[bytes] | None = None
        self.adopted_pid: int | None = None  # a crashed owner's server this process took over
        self.started_server = False

    @property
    def users_path(self) -> Path:
        return self.pgdata.with_name(self.pgdata.name + ".users")

    @property
    def lock_path(self) -> Path:
        return self.pgdata.with_name(self.pgdata.name + ".lock")

    @property
    def socket_dir(self) -> Path | None:
        info = self._server.get_postmaster_info() if self._server is not None else None
        return None if info is None else info.socket_dir

    def start(self) -> str:
        """Start (or join, or adopt) the server; return its admin URL (`postgresql://…/postgres`)."""
        import warnings

        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
            warnings.simplefilter("ignore")
            import pgserver  # imported lazily: only the embedded mode needs it
            from pgserver.utils import PostmasterInfo

        self.pgdata.mkdir(parents=True, exist_ok=True)
        with _locked(self.lock_path):
            users = open(self.users_path, "ab")  # noqa: SIM115 - held for the process's use of the server
            alone = _try_lock(users, fcntl.LOCK_EX)
            running = PostmasterInfo.read_from_pgdata(self.pgdata) if (self.pgdata / "PG_VERSION").exists() else None
            running_pid = running.pid if running is not None and running.is_running() else None
            if alone:
                if running_pid is not None:
                    # Nobody holds the users lock, yet the server runs: its owner died without stopping it.
                    self.adopted_pid = running_pid
                    log.warning("embedded_postgres_adopted", pgdata=str(self.pgdata), server_pid=running_pid,
                                note="the previous owner ended without stopping it (crash or kill -9); "
                                "this process now owns it and stops it on exit")
                pid_list = self.pgdata / ".handle_pids.json"
                if pid_list.exists():  # pgserver's own pid list cannot be trusted after a crash; reset it
                    pid_list.write_text("[]")
            self.started_server = running_pid is None
            try:
                # cleanup_mode=None: pgserver never stops the server itself; stop() below decides.
                self._server = pgserver.get_server(self.pgdata, cleanup_mode=None)
            except BaseException:
                users.close()  # not a user after all
                raise
            fcntl.flock(users, fcntl.LOCK_SH)  # from exclusive (alone) or fresh: now one user among others
            self._users = users
        uri: str = self._server.get_uri()
        log.info("embedded_postgres_started" if self.started_server else "embedded_postgres_joined",
                 pgdata=str(self.pgdata), server_pid=self._server.get_pid(), adopted=self.adopted_pid is not None)
        return uri

    def stop(self) -> None:
        """Leave the server; stop it when no other bottrader process is using it."""
        if self._server is None or self._users is None:
            return
        server, users = self._server, self._users
        with _locked(self.lock_path):
            try:
                last = _try_lock(users, fcntl.LOCK_EX)
                if last:
                    _pg_ctl_stop(server)
                    log.info("embedded_postgres_stopped", pgdata=str(self.pgdata))
                else:
                    log.info("embedded_postgres_left_running", pgdata=str(self.pgdata),
                             reason="another bottrader process is still using it")
            finally:
                try:
                    server._cleanup()  # pgserver's own bookkeeping (its pid list)
                except Exception as exc:  # pgserver bookkeeping only; the server state is settled above
                    log.debug("pgserver_cleanup_failed", error=repr(exc))
                type(server)._instances.pop(self.pgdata, None)  # a later start() looks afresh
                users.close()
                self._server = None
                self._users = None


def _pg_ctl_stop(server: Any) -> None:
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    info = server.get_postmaster_info()
    if info is None or not info.is_running():
        return
    try:
        pg_ctl(["-w", "-m", "fast", "-t", str(int(STOP_TIMEOUT_S)), "stop"], pgdata=server.pgdata,
               user=server.system_user, timeout=STOP_TIMEOUT_S + 5)
    except Exception as exc:
        log.warning("embedded_postgres_stop_failed", error=repr(exc), pid=info.pid)
        if info.process is not None and info.process.is_running():
            info.process.terminate()


def _try_lock(fh: IO[bytes], mode: int) -> bool:
    try:
        fcntl.flock(fh, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


class _locked:
    """An exclusive flock on `path` for the duration of a `with` block."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] | None = None

    def __enter__(self) -> None:
        self._fh = open(self.path, "ab")
        fcntl.flock(self._fh, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        assert self._fh is not None
        self._fh.close()


def embedded_users(pgdata: Path) -> bool:
    """True when some live process uses the embedded server under `pgdata` (for tests and diagnostics)."""
    path = Path(pgdata).expanduser().resolve()
    users = path.with_name(path.name + ".users")
    if not users.exists():
        return False
    with open(users, "ab") as fh:
        free = _try_lock(fh, fcntl.LOCK_EX)
    return not free
