"""docker-compose.yml and Dockerfile: checked for the structure the README promises (no Docker engine here)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_services_and_dependencies() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "migrate", "simulator", "webhook", "sighook", "both"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "healthcheck" in services["postgres"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("webhook", "sighook", "both"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["both"]["profiles"] == ["both"]
    for name in ("migrate", "simulator", "webhook", "sighook", "both"):
        env = services[name]["environment"]
        assert env["MODE"] == name
        assert env["TRADING_MODE"].startswith("${TRADING_MODE")


def test_dockerfile_is_slim_non_root_and_secret_free() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.12-slim" in text
    assert "\nUSER bottrader" in text
    for word in ("SECRET=", "API_KEY=", "PASSWORD="):
        assert word not in text


# Developer-only packages: benchmarks and tests are run from a checkout, never from the image.
NOT_IN_IMAGE = {"bench", "tests"}


def _packages() -> set[str]:
    return {p.parent.name for p in ROOT.glob("*/__init__.py")} - NOT_IN_IMAGE


def test_the_image_and_the_wheel_hold_every_package_the_cli_runs() -> None:
    # A verb whose package is missing is silently absent (main.py registers only what it finds), so
    # `docker compose run webhook python main.py replay …` would say "invalid choice": check it here.
    from tests.e2e.compose_env import dockerfile

    packages = _packages()
    assert {"replay", "diagnostics", "webhook", "sighook"} <= packages
    copied = {src.rstrip("/") for sources, _ in dockerfile().copies for src in sources}
    assert packages <= copied, sorted(packages - copied)
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert packages <= {pattern.rstrip("*") for pattern in found["include"]}, packages
    import main

    runnable = {name.split(".", 1)[0] for name in main.PLUGIN_CLIS}
    assert runnable - NOT_IN_IMAGE <= copied


def test_numba_compiles_into_the_state_volume() -> None:
    from tests.e2e.compose_env import compose_file, dockerfile

    cache = dockerfile().env["NUMBA_CACHE_DIR"]
    volumes = compose_file()["x-bottrader"]["volumes"]
    assert cache.startswith("/app/var/"), cache
    assert any(str(v).endswith(":/app/var") for v in volumes), volumes
