"""Health, metrics and admin routes over real HTTP: readiness codes and access rules."""

from __future__ import annotations

import base64

from tests.integration.webhook_http.support import ADMIN_TOKEN, SECRET, Harness, alert_body

PROXIED = {"X-Forwarded-For": "203.0.113.7"}  # what a request relayed by a local reverse proxy carries


async def _get(h: Harness, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    async with h.http.get(h.base + path, headers=headers or {}) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def test_health_is_200_when_ready_and_503_when_not(harness: Harness) -> None:
    async with harness.http.get(harness.base + "/health") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["ready"] is True and body["live"] is True and body["problems"] == []
    assert body["websocket"] == {"connected": True, "fresh": True, "last_message_age_s": 1.0}
    assert body["matrix"] == {"age_s": 30.0, "fresh": True}
    assert body["breakers"]["tripped"] == []

    harness.health.websocket_age_s = harness.settings.ws_heartbeat_timeout_s + 5
    harness.health.breakers["daily_loss"] = True
    async with harness.http.get(harness.base + "/health") as resp:
        assert resp.status == 503
        body = await resp.json()
    assert body["problems"] == ["websocket_stale"] and body["breakers"]["tripped"] == ["daily_loss"]

    harness.health.database_ok = False
    harness.health.websocket_connected = False
    async with harness.http.get(harness.base + "/health") as resp:
        assert resp.status == 503
        assert (await resp.json())["problems"] == ["database", "websocket_disconnected"]
    async with harness.http.get(harness.base + "/health/live") as resp:
        assert resp.status == 200 and (await resp.json()) == {"live": True}


async def test_trailing_stop_health(harness: Harness) -> None:
    async with harness.http.get(harness.base + "/health/trailing_stop") as resp:
        assert resp.status == 200
        assert await resp.json() == {"active": 2, "activations": 5, "errors": 0}


async def test_metrics_need_loopback_or_the_admin_token(harness: Harness) -> None:
    await harness.post("/webhook", alert_body(harness.clock, secret="wrong-secret"))
    status, ctype, text = await _get(harness, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    assert 'bt_alerts_total{outcome="unauthorized"}' in text
    assert SECRET not in text
    status, _, _ = await _get(harness, "/metrics", PROXIED)
    assert status == 401
    status, _, _ = await _get(harness, "/metrics", {**PROXIED, "Authorization": "Bearer not-the-token"})
    assert status == 401
    status, _, text = await _get(harness, "/metrics", {**PROXIED, "Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert status == 200 and "bt_alerts_total" in text


async def test_admin_routes_from_loopback(harness: Harness) -> None:
    async with harness.http.post(harness.base + "/admin/halt", json={"reason": "maintenance"}) as resp:
        assert resp.status == 200 and await resp.json() == {"halted": True, "reason": "maintenance"}
    status, _, text = await _get(harness, "/admin/state")
    assert status == 200 and '"halted": true' in text
    async with harness.http.post(harness.base + "/admin/resume") as resp:
        assert resp.status == 200 and await resp.json() == {"halted": False}
    async with harness.http.post(harness.base + "/admin/halt", data=b"not json") as resp:
        assert resp.status == 400
    assert harness.admin.reasons == ["maintenance"] and harness.admin.halted is False


async def test_admin_routes_refuse_relayed_callers_without_the_token(harness: Harness) -> None:
    for path in ("/admin/halt", "/admin/resume"):
        async with harness.http.post(harness.base + path, headers=PROXIED) as resp:
            assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")
    async with harness.http.post(harness.base + "/admin/halt", headers={**PROXIED, "Authorization": SECRET}) as resp:
        assert resp.status == 401  # the alert secret is not the admin token
    status, _, _ = await _get(harness, "/admin/state", PROXIED)
    assert status == 401
    assert harness.admin.reasons == []
    bearer = {**PROXIED, "Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with harness.http.post(harness.base + "/admin/halt", headers=bearer) as resp:
        assert resp.status == 200
    assert harness.admin.reasons == ["admin halt"]
    # A browser: HTTP Basic, any user name, ADMIN_TOKEN as the password.
    basic = {**PROXIED, "Authorization": "Basic " + base64.b64encode(f"me:{ADMIN_TOKEN}".encode()).decode()}
    status, _, _ = await _get(harness, "/admin/state", basic)
    assert status == 200
    wrong = {**PROXIED, "Authorization": "Basic " + base64.b64encode(f"{ADMIN_TOKEN}:x".encode()).decode()}
    status, _, _ = await _get(harness, "/admin/state", wrong)
    assert status == 401


async def test_root_is_left_for_the_dashboard_and_get_webhook_is_refused(harness: Harness) -> None:
    status, _, _ = await _get(harness, "/")
    assert status == 404
    status, _, _ = await _get(harness, "/webhook")
    assert status == 405
