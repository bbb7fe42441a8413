"""The embedded PostgreSQL has one owner at a time: a SIGKILLed owner's server is adopted by the next
process, a process that joins a running server leaves it running for the others, and the last one
out stops it. Real pgserver processes; the crash is a real SIGKILL."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from shared_data.embedded import EmbeddedPostgres, embedded_users

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from core.logging import configure_logging
from shared_data.embedded import EmbeddedPostgres
configure_logging("WARNING", "json")  # logs on stderr; stdout carries only the answers below
server = EmbeddedPostgres({pgdata!r})
server.start()
print("started" if server.started_server else "joined", flush=True)
if sys.argv[1] == "leave":
    server.stop()
    print("left", flush=True)
else:
    time.sleep(600)
"""


def _postmasters(pgdata: Path) -> list[int]:
    out = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(pgdata) in " ".join(cmd) and "-D" in cmd:
            out.append(int(proc.info["pid"]))
    return out


def _holder(pgdata: Path, action: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", HOLDER.format(root=str(ROOT), pgdata=str(pgdata)), action],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


@pytest.fixture
def pgdata() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="bt-own-pg-"))
    try:
        yield base / "pgdata"
    finally:
        for proc in psutil.process_iter(["pid", "cmdline"]):  # holders this test started, if it failed early
            if str(base) in " ".join(proc.info["cmdline"] or []) and proc.info["pid"] != os.getpid():
                with contextlib.suppress(psutil.Error):
                    proc.kill()
        for pid in _postmasters(base / "pgdata"):  # only the server of this test's own folder
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_kill9_owner_then_adopt_join_and_last_one_out_stops(pgdata: Path) -> None:
    crashed = _holder(pgdata, "hold")
    assert crashed.stdout is not None and crashed.stdout.readline().strip() == "started"
    running = _postmasters(pgdata)
    assert len(running) == 1 and embedded_users(pgdata)
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(timeout=30)
    assert _postmasters(pgdata) == running  # the crash leaves the server running…
    assert not embedded_users(pgdata)  # …with nobody holding it

    owner = EmbeddedPostgres(pgdata)
    owner.start()
    assert owner.adopted_pid == running[0] and not owner.started_server

    guest = _holder(pgdata, "leave")  # e.g. `./run.sh report performance` while the daemon runs
    out, _ = guest.communicate(timeout=60)
    assert out.split() == ["joined", "left"] and guest.returncode == 0
    assert _postmasters(pgdata) == running  # the guest left it running for the owner

    owner.stop()  # the last one out
    deadline = time.monotonic() + 30
    while _postmasters(pgdata) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _postmasters(pgdata) == []

    again = EmbeddedPostgres(pgdata)  # a clean start afterwards, in the same process
    again.start()
    assert again.started_server and again.adopted_pid is None
    again.stop()
    assert _postmasters(pgdata) == []
