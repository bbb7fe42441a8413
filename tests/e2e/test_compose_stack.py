"""The compose stack's services run as the image runs them, outside a container (no engine here).

What is reproduced from the Dockerfile and docker-compose.yml: the files the image COPYs (into a
temp /app), `/app/var` created and owned by the image's user (uid 10001, as its RUN line does),
the image's CMD (`sh -c 'exec python main.py "$MODE"'`) run as that uid, each service's
environment from the compose file with no `.env`, and each service's healthcheck command.
What differs: service names resolve to 127.0.0.1, ports are free ones (the machine is shared), the
database is the test server, and the process keeps CAP_DAC_READ_SEARCH so it can read the shared
virtualenv under /root (writes are still checked as uid 10001, which is the point).
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_test_database
from tests.e2e.compose_env import ROOT, compose_file, dockerfile, service_env
from tests.ports import free_port

IMAGE_UID = 10001
SETPRIV = shutil.which("setpriv")


def _as_image_user() -> list[str]:
    assert SETPRIV, "setpriv (util-linux) is needed to run as the image's uid"
    return [SETPRIV, f"--reuid={IMAGE_UID}", f"--regid={IMAGE_UID}", "--clear-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]


def _build_app(tmp: Path) -> Path:
    """What the image holds at /app: the COPY lines, then var/ created for the image user."""
    app = tmp / "app"
    app.mkdir()
    for sources, dest in dockerfile().copies:
        for src in sources:
            into_folder = dest in (".", "./") or dest.endswith("/")
            target = app / (Path(src).name if into_folder else dest.removeprefix("./"))
            if (ROOT / src).is_dir():
                shutil.copytree(ROOT / src, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(ROOT / src, target)
    (app / "var" / "simulator").mkdir(parents=True)
    for path in [app / "var", app / "var" / "simulator"]:
        os.chown(path, IMAGE_UID, IMAGE_UID)
    return app


class Service:
    def __init__(self, name: str, app: Path, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = (log_dir / f"{name}.log").open("wb")
        cmd = dockerfile().cmd
        self.proc = subprocess.Popen([*_as_image_user(), *cmd], cwd=app, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return int(self.proc.returncode)


def _healthcheck(service: str, app: Path, env: dict[str, str],
                 hosts: dict[str, str]) -> subprocess.CompletedProcess[str]:
    test = list(compose_file()["services"][service]["healthcheck"]["test"][1:])  # drop "CMD"
    test = [_rewrite(arg, app, hosts) for arg in test]
    return subprocess.run([*_as_image_user(), *test], cwd=app, env=env, capture_output=True, text=True, timeout=30)


def _container_env(service: str, app: Path, hosts: dict[str, str]) -> dict[str, str]:
    """The image's ENV under the service's compose environment, as the engine merges them, paths and hosts
    rewritten for this machine."""
    env = {k: _rewrite(v, app, hosts) for k, v in dockerfile().env.items()}
    return env | {k: _rewrite(v, app, hosts) for k, v in service_env(service, {}).items()}


def _rewrite(value: str, app: Path, hosts: dict[str, str]) -> str:
    value = value.replace("/app/", f"{app}/")
    for old, new in hosts.items():
        value = value.replace(old, new)
    return value


def _wait_healthy(service: str, app: Path, env: dict[str, str], hosts: dict[str, str], proc: Service,
                  timeout: float = 150.0) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        assert proc.proc.poll() is None, (f"{service} exited: {proc.proc.returncode}; {last}\n"
                                          + Path(proc.log.name).read_text(errors="replace")[-3000:])
        done = _healthcheck(service, app, env, hosts)
        last = done.stdout + done.stderr
        if done.returncode == 0:
            return last
        time.sleep(2)
    tail = (proc.log.name and Path(proc.log.name).read_text(errors="replace")[-4000:])
    raise AssertionError(f"{service} not healthy in {timeout}s: {last}\n{tail}")


@pytest.fixture
def unmigrated_db(pg_server_url: str) -> Iterator[str]:
    import asyncio

    from shared_data.db import drop_database

    name, url = asyncio.run(make_test_database(pg_server_url, migrated=False))
    try:
        yield url
    finally:
        asyncio.run(drop_database(pg_server_url, name))


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temp folder others may traverse (pytest's own is 0700, and access(2) ignores capabilities)."""
    path = Path(tempfile.mkdtemp(prefix="bt-compose-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_services_run_with_the_images_command_and_user(open_tmp: Path, unmigrated_db: str) -> None:
    tmp_path = open_tmp
    app = _build_app(tmp_path)
    rest, ws, web = free_port(), free_port(), free_port()
    hosts = {"simulator:8443": f"127.0.0.1:{rest}", "webhook:5003": f"127.0.0.1:{web}",
             "127.0.0.1:5003": f"127.0.0.1:{web}", "https://simulator:": "https://127.0.0.1:"}
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    base["PATH"] = f"{ROOT / '.venv' / 'bin'}:{base.get('PATH', '/usr/bin:/bin')}"
    base["HOME"] = str(app / "var")
    services: dict[str, Service] = {}

    def env_of(name: str) -> dict[str, str]:
        env = _container_env(name, app, hosts)
        env.update(base)
        env.update({"DATABASE_URL": unmigrated_db, "PAPER_SIMULATOR_HOST": "127.0.0.1", "SIM_REST_PORT": str(rest),
                    "SIM_WS_PORT": str(ws), "WEBHOOK_PORT": str(web), "LOG_FORMAT": "json",
                    "PYTHONDONTWRITEBYTECODE": "1"})
        return env

    try:
        migrate = subprocess.run([*_as_image_user(), *dockerfile().cmd], cwd=app, env=env_of("migrate"),
                                 capture_output=True, text=True, timeout=180)
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        assert "head" in migrate.stdout

        for name in ("simulator", "webhook", "sighook"):  # the depends_on order, each waiting on health
            services[name] = Service(name, app, env_of(name), tmp_path)
            print(name, _wait_healthy(name, app, env_of(name), hosts, services[name]))

        var = app / "var"
        for path in (var / "simulator" / "ca.pem", var / "simulator" / "default-key.json", var / "webhook-secret",
                     var / "admin-token"):
            assert path.exists() and path.stat().st_uid == IMAGE_UID, path
        assert (var / "webhook-secret").stat().st_mode & 0o777 == 0o600
        # sighook's indicators compiled into the state volume (NUMBA_CACHE_DIR), where a new container finds them.
        compiled = list((var / "numba-cache").rglob("*.nbi"))
        assert compiled and all(p.stat().st_uid == IMAGE_UID for p in compiled), compiled

        # The dashboard from outside loopback (as through Docker's bridge): 401 asking for Basic auth;
        # with the generated token as the password, the page.
        url = f"http://127.0.0.1:{web}/"
        relayed = {"X-Forwarded-For": "172.18.0.1"}
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(urllib.request.Request(url, headers=relayed), timeout=10)
        assert denied.value.code == 401 and denied.value.headers["WWW-Authenticate"].startswith("Basic")
        token = (var / "admin-token").read_text().strip()
        auth = "Basic " + base64.b64encode(f"me:{token}".encode()).decode()
        with urllib.request.urlopen(urllib.request.Request(url, headers={**relayed, "Authorization": auth}),
                                    timeout=10) as page:
            assert page.status == 200 and b"bottrader" in page.read()
    finally:
        codes = {name: svc.stop() for name, svc in reversed(list(services.items()))}
    assert codes == {"sighook": 0, "webhook": 0, "simulator": 0}, {
        n: (tmp_path / f"{n}.log").read_text()[-3000:] for n in codes}


@pytest.mark.slow
def test_replay_runs_in_the_image(open_tmp: Path, pg_server_url: str) -> None:
    """`docker compose run --rm webhook python main.py replay …` (README → Docker): the image holds the
    replay's package, and its user can write the report into the state volume."""
    import asyncio
    import uuid

    from replay.data import write_csv
    from replay.sample_data import product_rows
    from shared_data.db import drop_database

    app = _build_app(open_tmp)
    data = open_tmp / "data"
    data.mkdir()
    data.chmod(0o755)
    csv = data / "BTC-USD.csv"
    write_csv(csv, "BTC-USD", product_rows(uuid.uuid4().int % 2**32, 60000.0, 2, 1500))  # its own fingerprint
    env = _container_env("webhook", app, {}) | {"PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin",
                                                 "HOME": str(app / "var"), "DATABASE_URL": pg_server_url}

    where = subprocess.run([*_as_image_user(), "python", "-c", "import replay, diagnostics; "
                            "print(replay.__file__); print(diagnostics.__file__)"],
                           cwd=app, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(app)) for line in where.stdout.split()), where.stdout  # the image's copy

    run = subprocess.run([*_as_image_user(), "python", "main.py", "replay", "--data", str(csv),
                          "--report", "var/replay", "--no-progress"],
                         cwd=app, env=env, capture_output=True, text=True, timeout=600)
    database = next((line.split()[1] for line in run.stdout.splitlines() if line.startswith("database: ")), None)
    try:
        assert run.returncode == 0, run.stdout + run.stderr
        assert "1500 candles of 1 product(s)" in run.stdout, run.stdout
        report = app / "var" / "replay"
        names = {p.name for p in report.iterdir()}
        assert {"report.json", "report.md", "report.html"} <= names, names
        assert all(p.stat().st_uid == IMAGE_UID for p in report.iterdir())
    finally:
        if database is not None:
            asyncio.run(drop_database(pg_server_url, database))
