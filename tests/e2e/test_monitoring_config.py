"""ops/: every metric the alert rules and the Grafana dashboard use is served by a running daemon's
/metrics; `promtool` accepts the rules and the scrape config; the dashboard JSON has the structure
Grafana's dashboard schema requires (panels, grid, datasource, targets); compose wires them up."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict, Field, field_validator

from simulator.app import RunningSimulator
from tests.e2e.harness import e2e_settings, running_daemon, start_test_simulator

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
DASHBOARD = OPS / "grafana" / "dashboards" / "bottrader.json"
PROMETHEUS_BUILTINS = {"up"}  # series Prometheus makes itself for every target
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "gauge": ("",), "summary": ("_sum", "_count", "_created")}
METRIC = re.compile(r"\b(bt_[a-zA-Z0-9_:]+|up)\b(?!\s*\()")


def rule_exprs() -> list[str]:
    groups = yaml.safe_load((OPS / "alerts.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p["targets"]]


def metric_names(expr: str) -> set[str]:
    names = set(METRIC.findall(expr))
    assert names, f"no metric in {expr!r}"
    return names


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), ["BTC-USD"])
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="module")
async def served_names(db_url: str, sim: RunningSimulator) -> set[str]:
    """Every sample name the running daemon's /metrics can serve (families with their suffixes)."""
    async with running_daemon(db_url, sim, e2e_settings()) as d, aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{d.parts['port']}/metrics", timeout=aiohttp.ClientTimeout(total=10)) as resp:
        assert resp.status == 200
        text = await resp.text()
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        names |= {s.name for s in family.samples}
    return names


async def test_every_rule_and_panel_metric_is_served(served_names: set[str]) -> None:
    used = {name for expr in rule_exprs() + dashboard_exprs() for name in metric_names(expr)}
    assert len(used) >= 15, used  # the check is not vacuous
    missing = sorted(used - served_names - PROMETHEUS_BUILTINS)
    assert missing == [], f"not served by /metrics: {missing}"
    # The rules cover what the issue asks for.
    rules = " ".join(rule_exprs())
    for needed in ("bt_ws_connected", "bt_exit_events_total", "bt_protective_stop_unprotected_seconds_bucket",
                   "bt_breaker_tripped", "bt_fill_record_failures_total", "bt_matrix_updated_timestamp_seconds"):
        assert needed in rules, needed


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: run scripts/ensure_debian_tools.sh (test.sh does) or apt-get install prometheus"
    return path


def test_promtool_accepts_the_rules() -> None:
    out = subprocess.run([promtool(), "check", "rules", str(OPS / "alerts.yml")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rule_exprs())} rules found" in out.stdout


def test_promtool_accepts_the_scrape_config(tmp_path: Path) -> None:
    # The same config with the container paths pointed at this checkout.
    config = (OPS / "prometheus.yml").read_text()
    config = config.replace("/etc/prometheus/alerts.yml", str(OPS / "alerts.yml"))
    token = tmp_path / "admin_token"
    token.write_text("not-a-real-token")
    config = config.replace("/etc/prometheus/admin_token", str(token))
    (tmp_path / "prometheus.yml").write_text(config)
    out = subprocess.run([promtool(), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


# ---- the dashboard JSON against the parts of Grafana's dashboard schema it uses -----------------
class GridPos(BaseModel):
    model_config = ConfigDict(extra="forbid")
    h: int = Field(gt=0)
    w: int = Field(gt=0, le=24)
    x: int = Field(ge=0, lt=24)
    y: int = Field(ge=0)


class DataSourceRef(BaseModel):
    type: str
    uid: str


class Target(BaseModel):
    refId: str = Field(pattern=r"^[A-Z]$")
    expr: str = Field(min_length=1)
    legendFormat: str = ""
    datasource: DataSourceRef


class Panel(BaseModel):
    id: int = Field(gt=0)
    title: str = Field(min_length=1)
    type: str
    datasource: DataSourceRef
    gridPos: GridPos
    targets: list[Target] = Field(min_length=1)
    fieldConfig: dict[str, Any]
    options: dict[str, Any]
    description: str = ""

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        assert value in {"timeseries", "stat", "gauge", "table", "bargauge", "text"}, value
        return value


class Dashboard(BaseModel):
    uid: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,40}$")
    title: str
    schemaVersion: int = Field(ge=36)
    panels: list[Panel]
    time: dict[str, str]
    refresh: str
    tags: list[str]
    timezone: str
    version: int
    editable: bool
    templating: dict[str, Any]
    annotations: dict[str, Any]


def test_dashboard_json_matches_the_schema_and_the_provisioned_datasource() -> None:
    dash = Dashboard.model_validate_json(DASHBOARD.read_text())
    datasource = yaml.safe_load((OPS / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    ids = [p.id for p in dash.panels]
    assert len(ids) == len(set(ids))
    for p in dash.panels:
        assert p.gridPos.x + p.gridPos.w <= 24, p.title
        assert p.datasource.uid == datasource["uid"] and all(t.datasource.uid == datasource["uid"] for t in p.targets)
    titles = " ".join(p.title.lower() for p in dash.panels)
    for topic in ("positions", "p&l", "exits by reason", "latency", "feed", "trailing stop", "exchange errors"):
        assert topic in titles, topic
    provider = yaml.safe_load((OPS / "grafana/provisioning/dashboards/bottrader.yml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_compose_monitoring_profile_mounts_ops() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    assert "/etc/prometheus/alerts.yml" in " ".join(services["prometheus"]["volumes"])
    assert compose["configs"]["admin_token"] == {"environment": "ADMIN_TOKEN"}
