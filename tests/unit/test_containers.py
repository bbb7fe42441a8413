"""docker-compose.yml and Dockerfile: checked for the structure the README promises (no Docker engine here)."""

from __future__ import annotations

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
