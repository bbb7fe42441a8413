"""`python main.py healthcheck URL`, as compose runs it every few seconds in every container: against a
real HTTP server on 127.0.0.1, and without importing settings, logging or any other verb's modules."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class _Health(BaseHTTPRequestHandler):
    answers: dict[str, tuple[int, dict[str, object]]] = {
        "/ok": (200, {"ready": True, "matrix": {"fresh": True}, "problems": []}),
        "/stale": (200, {"ready": True, "matrix": {"fresh": False}, "problems": []}),
        "/down": (503, {"ready": False, "problems": ["database"]}),
    }

    def do_GET(self) -> None:
        status, body = self.answers.get(self.path, (404, {}))
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "main.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("path", "require", "code", "line"), [
    ("/ok", [], 0, "healthy: {url}: healthy"),
    ("/ok", ["--require", "matrix.fresh"], 0, "healthy: {url}: healthy"),
    ("/stale", ["--require", "matrix.fresh"], 1, "unhealthy: {url}: not true: matrix.fresh"),
    ("/down", [], 1, "unhealthy: {url}: HTTP 503: ['database']"),
])
def test_the_probe_answers_by_exit_code_and_one_line(server: str, path: str, require: list[str], code: int,
                                                     line: str) -> None:
    url = server + path
    done = _run("healthcheck", url, *require)
    assert done.returncode == code, done.stdout + done.stderr[-2000:]
    assert done.stdout.strip() == line.format(url=url)


def test_the_probe_imports_nothing_of_the_daemon(server: str) -> None:
    done = _run("-v", "healthcheck", server + "/ok")  # -v anywhere, as for every verb
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    imported = {row.split("|")[-1].strip() for row in done.stderr.splitlines() if row.startswith("import time:")}
    assert "core.healthcheck" in imported
    heavy = {"core.settings", "pydantic", "structlog", "sqlalchemy", "asyncpg", "asyncio", "aiohttp", "pandas",
             "reports.cli", "fifo_engine.cli", "risk.cli", "replay.cli"}
    assert not heavy & imported, sorted(heavy & imported)


def test_a_closed_port_is_unhealthy_not_a_traceback() -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = _run("healthcheck", f"http://127.0.0.1:{port}/health")
    assert done.returncode == 1 and done.stdout.startswith(f"unhealthy: http://127.0.0.1:{port}/health: ")
    assert "Traceback" not in done.stderr
