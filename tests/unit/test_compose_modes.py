"""docker-compose.yml without a container engine: paper needs no .env, live needs no edit, every
service has a /health healthcheck and waits on health. (The engine-level check is
tests/e2e/test_compose_stack.py: the image's command line and user, outside a container.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from core.paper_endpoints import with_paper_endpoints
from core.settings import Settings
from exchange.coinbase.config import CoinbaseConfig
from tests.e2e.compose_env import ROOT, compose_file, dockerfile, interpolate, service_env

DAEMONS = ("simulator", "webhook", "sighook", "both")
LIVE_DOTENV = {
    "TRADING_MODE": "live", "LIVE_TRADING_CONFIRM": "I understand this trades real money",
    "COINBASE_API_KEY": "organizations/o/apiKeys/k", "COINBASE_API_SECRET": "-----BEGIN EC PRIVATE KEY-----x",
    "WEBHOOK_SECRETS": "s" * 40, "ADMIN_TOKEN": "t" * 40,
    # What a user copying old advice might write: empty endpoints must mean Coinbase, not the simulator.
    "REST_BASE_URL": "",
}


def _settings(env: dict[str, str]) -> Settings:
    values = {k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields}
    return with_paper_endpoints(Settings(_env_file=None, **values))  # type: ignore[call-arg]


def test_interpolation_forms() -> None:
    assert interpolate("${A:-x}", {"A": ""}) == "x" and interpolate("${A-x}", {"A": ""}) == ""
    assert interpolate("${A-x}", {}) == "x" and interpolate("a${B}c", {"B": "b"}) == "abc"
    with pytest.raises(ValueError):
        interpolate("${A:?need A}", {"A": ""})


def test_paper_runs_without_any_env_file() -> None:
    for service in ("migrate", *DAEMONS):
        env = service_env(service, {})  # raises when a ${VAR:?…} demands a .env
        settings = _settings(env)
        assert settings.is_paper
        if service in ("webhook", "sighook", "both"):
            assert settings.rest_base_url == "simulator:8443"
            assert settings.ws_market_url == "ws://simulator:8765/ws"
            assert str(settings.exchange_ca_file) == "/app/var/simulator/ca.pem"
            assert "simulator" in settings.paper_exchange_hosts


def test_live_env_needs_no_edit_and_never_points_at_the_simulator() -> None:
    for service in ("webhook", "sighook", "both"):
        settings = _settings(service_env(service, LIVE_DOTENV))
        assert not settings.is_paper
        assert settings.rest_base_url == ""  # PAPER_SIMULATOR_HOST is ignored in live mode
        config = CoinbaseConfig.from_settings(settings)
        assert "coinbase.com" in config.rest_host and "coinbase.com" in config.ws_market_url


def test_every_service_is_health_checked_and_waits_on_health() -> None:
    services = compose_file()["services"]
    for name in DAEMONS:
        test = services[name]["healthcheck"]["test"]
        assert test[:4] == ["CMD", "python", "main.py", "healthcheck"] and "/health" in test[4], name
    assert services["webhook"]["depends_on"]["simulator"]["condition"] == "service_healthy"
    assert services["sighook"]["depends_on"]["webhook"]["condition"] == "service_healthy"
    assert services["both"]["depends_on"]["simulator"]["condition"] == "service_healthy"
    for name in ("webhook", "both"):
        assert services[name]["ports"] == ["127.0.0.1:5003:5003"]  # the host's loopback only


def test_state_volume_is_a_folder_the_image_creates_for_its_user() -> None:
    df = dockerfile()
    assert df.user == "bottrader"
    created = " ".join(df.run)
    assert "mkdir -p /app/var/simulator" in created and "chown -R bottrader:bottrader /app/var" in created
    for name in ("migrate", *DAEMONS):
        assert compose_file()["services"][name]["volumes"] == ["state:/app/var"]


def test_docker_compose_v1_accepts_the_file_for_paper_and_live(tmp_path: Path) -> None:
    """docker-compose 1.29 (the one Debian ships) validates schema and interpolation; it predates the
    optional `env_file` form and configs from the environment, so those are written in older forms for it."""
    assert shutil.which("docker-compose"), ("docker-compose is missing: run scripts/ensure_debian_tools.sh "
                                            "(test.sh does) or apt-get install docker-compose")
    data = compose_file()
    for svc in data["services"].values():
        if "env_file" in svc and svc["env_file"] != [".env"]:  # aliased services (*ha-webhook) share one dict
            assert svc["env_file"] == [{"path": ".env", "required": False}]
            svc["env_file"] = [".env"]
    # Nor does it know a config read from an environment variable (Compose ≥ 2.23): validated as a file.
    for name, config in (data.get("configs") or {}).items():
        assert set(config) == {"environment"}, config
        (tmp_path / name).write_text("token\n")
        data["configs"][name] = {"file": f"./{name}"}
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    for dotenv in ("", "\n".join(f"{k}={v}" for k, v in LIVE_DOTENV.items())):
        (tmp_path / ".env").write_text(dotenv)
        done = subprocess.run(["docker-compose", "config"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        resolved = yaml.safe_load(done.stdout)["services"]
        mode = "live" if dotenv else "paper"
        assert resolved["webhook"]["environment"]["TRADING_MODE"] == mode
    assert (ROOT / "docker-compose.yml").exists()
