"""The `ha` profile of docker-compose.yml: two webhooks and two sighooks behind one port (no Docker here)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_ha_profile_topology() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, mode in (("webhook-a", "webhook"), ("webhook-b", "webhook"), ("sighook-a", "sighook"),
                       ("sighook-b", "sighook")):
        assert services[name]["profiles"] == ["ha"]
        assert services[name]["environment"]["MODE"] == mode
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "ports" not in services[name]  # only the proxy is published
        assert services[name]["restart"] == "unless-stopped"  # a crashed or stepped-down process comes back
    assert services["sighook-a"]["environment"]["SIGHOOK_WEBHOOK_URL"] == "http://proxy:5003/webhook"
    proxy = services["proxy"]
    assert proxy["profiles"] == ["ha"] and proxy["ports"] == ["127.0.0.1:5003:5003"]
    config = proxy["volumes"][0].split(":")[0]
    text = (ROOT / config).read_text()
    assert "server webhook-a webhook-a:5003 check" in text and "server webhook-b webhook-b:5003 check" in text
    assert "option httpchk GET /health" in text
    # The default topology is unchanged.
    assert "profiles" not in services["webhook"] and "profiles" not in services["sighook"]
