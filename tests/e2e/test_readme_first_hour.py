"""The first hour, as the README tells it, from a fresh clone (issue 18).

A `git clone` of this repository (its last commit) into a temp folder; `./run.sh` there, exactly as the
README's first command (embedded PostgreSQL, in-process simulator — the real thing, no DATABASE_URL);
the quick start's alert `curl` lines run verbatim through bash; the dashboard in headless Chromium
(DOM checked for equity, the position and the alert row; screenshot in
test-artifacts/first-hour-dashboard.png); the README's SDK snippet; the ready block's psql command;
`./run.sh report performance` and `./run.sh fifo check` on stdout; Ctrl-C; a restart killed with
SIGKILL; a restart that adopts the orphaned PostgreSQL; Ctrl-C — and no process of the clone left.

Only the ports differ from the README (free ones instead of 5003/8443/8765: the machine is shared);
the clone's `.venv` links to this checkout's, so bootstrap finds it installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from core.settings import Settings
from tests.e2e.readme_steps import quick_start, sdk_snippet
from tests.e2e.test_dashboard_browser import run_chromium, section
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
READY = "bottrader is ready"


def _processes_under(folder: Path) -> list[str]:
    """Every live process whose command line mentions the clone (daemon, postgres, helpers)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if str(folder) in cmd and proc.info["pid"] != os.getpid():
            found.append(f"{proc.info['pid']}: {cmd[:160]}")
    return found


def _postgres_of(folder: Path) -> list[str]:
    return [p for p in _processes_under(folder) if "postgres" in p and "pgdata" in p]


def _eventually(check: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


class RunSh:
    """`./run.sh` in the clone, like a person in a terminal (its own process group: Ctrl-C = SIGINT to it)."""

    def __init__(self, clone: Path, env: dict[str, str], n: int) -> None:
        self.out_path = clone.parent / f"run{n}.out"
        self.err_path = clone.parent / f"run{n}.err"
        self._out, self._err = self.out_path.open("wb"), self.err_path.open("wb")
        self.proc = subprocess.Popen(["bash", "-c", quick_start(clone / "README.md")["run"]], cwd=clone, env=env,
                                     stdout=self._out, stderr=self._err, start_new_session=True)

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def events(self, name: str) -> list[dict[str, Any]]:
        out = []
        for line in self.stderr().splitlines():
            if f'"event": "{name}"' in line:
                out.append(json.loads(line))
        return out

    def wait_ready(self, timeout: float = 150.0) -> str:
        def ready() -> str | None:
            assert self.proc.poll() is None, f"run.sh exited {self.proc.returncode}:\n{self.stderr()[-4000:]}"
            text = self.stdout()
            return text if READY in text and "stop:" in text else None

        return str(_eventually(ready, "the ready block", timeout))

    def ctrl_c(self, timeout: float = 90.0) -> int:
        os.killpg(self.proc.pid, signal.SIGINT)
        return self._wait(timeout)

    def kill9(self) -> int:
        self.proc.send_signal(signal.SIGKILL)
        return self._wait(30)

    def _wait(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            self._out.close()
            self._err.close()
        return int(rc)


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _sh(cmd: str, clone: Path, env: dict[str, str], timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", cmd], cwd=clone, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def clone() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="bt-first-hour-"))
    target = base / "bottrader"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True, timeout=120)
    (target / ".venv").symlink_to((ROOT / ".venv").resolve())
    try:
        yield target
    finally:
        leftovers = _processes_under(target)
        for line in leftovers:  # only what this test started (its clone path is unique)
            try:
                psutil.Process(int(line.split(":")[0])).kill()
            except psutil.Error:
                pass
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_first_hour_as_the_readme_tells_it(clone: Path) -> None:
    steps = quick_start(clone / "README.md")
    web, rest, ws = free_port(), free_port(), free_port()
    setting_names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in setting_names}  # no DATABASE_URL: embedded
    env.update({"WEBHOOK_PORT": str(web), "SIM_REST_PORT": str(rest), "SIM_WS_PORT": str(ws)})

    def ported(cmd: str) -> str:
        return cmd.replace("127.0.0.1:5003", f"127.0.0.1:{web}").replace("127.0.0.1:8443", f"127.0.0.1:{rest}")

    base = f"http://127.0.0.1:{web}"

    # ---- the run command, then the ready block -------------------------------------------------
    run = RunSh(clone, env, 1)
    ready = run.wait_ready()
    for needle in (f"dashboard:  {base}/", f"alerts:     POST {base}/webhook", "PAPER",
                   f"secret:     {clone}/var/webhook-secret", "database:   psql 'host=", "BTC-USD"):
        assert needle in ready, (needle, ready)
    assert run.events("ready") and not run.events("config")  # the full config is only at debug level
    secret_file = clone / "var" / "webhook-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_text().strip()

    # ---- the quick-start alert, verbatim: 200, then an order -------------------------------------
    done = _sh(ported(steps["buy"]), clone, env)
    assert done.returncode == 0 and done.stdout.strip().endswith("HTTP 200"), done.stdout + done.stderr
    assert json.loads(done.stdout.rsplit(" HTTP", 1)[0])["result"] == "accepted"

    def bought() -> dict[str, Any] | None:
        summary = _get_json(f"{base}/api/dashboard/summary")
        positions = [p for p in summary["positions"] or [] if p["symbol"] == "BTC-USD"]
        alerts = summary["alerts"] or []
        return summary if positions and alerts and alerts[0]["outcome"] == "ordered" else None

    summary = _eventually(bought, "the BTC position and the ordered alert")
    assert summary["account"]["equity_usd"] and summary["alerts"][0]["order_id"]

    # ---- the dashboard in headless Chromium ----------------------------------------------------
    dom, _ = asyncio.run(run_chromium("--dump-dom", f"{base}/"))
    equity = re.search(r'<dd id="equity">(\$[\d,]+\.\d\d)</dd>', dom)
    assert equity, "equity not rendered"
    assert 9_000 < float(equity.group(1).strip("$").replace(",", "")) < 11_000
    assert re.search(r'<dd id="cash">\$[\d,]+\.\d\d</dd>', dom)
    positions = section(dom, "positions")
    assert 'data-symbol="BTC-USD"' in positions
    alerts = section(dom, "alerts")
    row = re.search(r'<tr data-alert-id="\d+" data-outcome="ordered">(.*?)</tr>', alerts, re.DOTALL)
    assert row and "BTC-USD" in row.group(1) and "$100.00" in row.group(1), alerts[:2000]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "first-hour-dashboard.png"
    asyncio.run(run_chromium(f"--screenshot={shot}", "--window-size=1400,1900", f"{base}/"))
    assert shot.stat().st_size > 10_000

    # ---- the README's SDK snippet works under ./run.sh -----------------------------------------
    snippet = ported(sdk_snippet(clone / "README.md"))
    sdk = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c", snippet], cwd=clone, env=env,
                         capture_output=True, text=True, timeout=60)
    assert sdk.returncode == 0 and "USD" in sdk.stdout, sdk.stdout + sdk.stderr

    # ---- the ready block's psql command --------------------------------------------------------
    psql = re.search(r"database:   (psql '[^']+')", ready)
    assert psql
    rows = _sh(f"{psql.group(1)} -At -c \"SELECT symbol || ' ' || status FROM alerts\"", clone, env, 60)
    assert rows.returncode == 0 and "BTC-USD ordered" in rows.stdout, rows.stdout + rows.stderr

    # ---- close it, then the reports (while the daemon runs) ------------------------------------
    done = _sh(ported(steps["close"]), clone, env)
    assert done.stdout.strip().endswith("HTTP 200"), done.stdout + done.stderr

    def sold() -> bool:
        orders = _get_json(f"{base}/api/dashboard/orders")
        return any(o["side"] == "SELL" and o["status"] == "FILLED" for o in orders)

    _eventually(sold, "the closing sell")
    dom, _ = asyncio.run(run_chromium("--dump-dom", f"{base}/"))
    exits = section(dom, "exits")
    # One exit: its row and the overall row, each with the fees paid (buy + sell fee, to the cent).
    assert exits.count("<tr") == 2 and len(re.findall(r'<td class="num">\$\d+\.\d\d</td>', exits)) >= 2, exits
    asyncio.run(run_chromium(f"--screenshot={ARTIFACTS / 'first-hour-after-close.png'}", "--window-size=1400,1900",
                             f"{base}/"))
    perf = _sh(steps["performance"], clone, env)
    assert perf.returncode == 0 and "Performance by exit reason" in perf.stdout, perf.stdout + perf.stderr
    assert perf.stderr.strip() == "", perf.stderr  # logs below WARNING stay off unless -v
    fifo = _sh(steps["fifo_check"], clone, env)
    assert fifo.returncode == 0 and fifo.stdout == "fifo check: consistent (0 inconsistencies)\n", fifo
    assert _postgres_of(clone), "the daemon's PostgreSQL must survive the verbs that joined it"

    # ---- Ctrl-C: exit 0, and the embedded PostgreSQL it started is stopped -----------------------
    assert run.ctrl_c() == 0, run.stderr()[-3000:]
    assert run.events("embedded_postgres_stopped")
    _eventually(lambda: not _processes_under(clone), "no process of the clone after Ctrl-C", 30)

    # ---- restart, kill -9: PostgreSQL is orphaned ------------------------------------------------
    run2 = RunSh(clone, env, 2)
    run2.wait_ready()
    assert secret_file.read_text().strip() == secret  # the same secret: the README's curl keeps working
    assert run2.kill9() == -signal.SIGKILL
    orphan = _postgres_of(clone)
    assert orphan, "expected the killed daemon's PostgreSQL to be left running"

    # ---- restart: the orphan is adopted; Ctrl-C stops it ----------------------------------------
    run3 = RunSh(clone, env, 3)
    run3.wait_ready()
    adopted = run3.events("embedded_postgres_adopted")
    assert adopted and str(adopted[0]["server_pid"]) in orphan[0]
    history = _get_json(f"{base}/api/dashboard/alerts")
    assert [a["action"] for a in history[:2]] == ["close", "buy"]  # what happened before is still there
    assert run3.ctrl_c() == 0, run3.stderr()[-3000:]
    assert run3.events("embedded_postgres_stopped")
    _eventually(lambda: not _processes_under(clone), "no orphaned process after the final Ctrl-C", 30)
