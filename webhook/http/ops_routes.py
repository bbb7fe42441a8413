"""GET /health, GET /health/live, GET /health/trailing_stop, GET /metrics and the admin routes.

Health is open (probes need it; it holds no secrets). /metrics and /admin/* answer only a direct
loopback client (not one relayed by a local proxy) or a caller with `Authorization: Bearer
<ADMIN_TOKEN>`, compared in constant time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger
from core.metrics import REGISTRY
from webhook.http.access import OperatorGuard
from webhook.http.deps import HealthReport, HttpDeps

log = get_logger(__name__)


def assess_health(report: HealthReport, ws_max_age_s: float, matrix_max_age_s: float) -> tuple[bool, dict[str, Any]]:
    """Readiness = database reachable and market data connected and fresh. The matrix and the
    breakers are reported but do not gate readiness: a tripped breaker halts trading, not the
    endpoint (alerts must still be received and recorded), and webhook-only runs have no matrix."""
    ws_fresh = report.websocket_connected and report.websocket_age_s is not None and (
        report.websocket_age_s <= ws_max_age_s
    )
    matrix_fresh = report.matrix_age_s is not None and report.matrix_age_s <= matrix_max_age_s
    problems = []
    if not report.database_ok:
        problems.append("database")
    if not report.websocket_connected:
        problems.append("websocket_disconnected")
    elif not ws_fresh:
        problems.append("websocket_stale")
    problems.extend(report.problems)
    ready = not problems
    body: dict[str, Any] = {
        "live": True,
        "ready": ready,
        "problems": problems,
        "database": {"ok": report.database_ok},
        "websocket": {"connected": report.websocket_connected, "fresh": ws_fresh,
                      "last_message_age_s": report.websocket_age_s},
        "matrix": {"age_s": report.matrix_age_s, "fresh": matrix_fresh},
        "breakers": {"tripped": sorted(name for name, tripped in report.breakers.items() if tripped),
                     "all": dict(report.breakers)},
        "halted": report.halted,
    }
    if report.details:
        body["details"] = dict(report.details)
    return ready, body


async def database_ok(sessions: async_sessionmaker[AsyncSession], timeout_s: float = 2.0) -> bool:
    """`SELECT 1` within a timeout — a building block for a HealthSource."""
    try:
        async with asyncio.timeout(timeout_s), sessions() as session:
            await session.execute(text("SELECT 1"))
        return True
    except asyncio.CancelledError:
        raise
    except Exception:
        return False


def _json(body: Mapping[str, Any], status: int = 200) -> web.Response:
    return web.json_response(dict(body), status=status, dumps=lambda o: json.dumps(o, default=str))


class OpsRoutes:
    def __init__(self, deps: HttpDeps) -> None:
        self._deps = deps
        self._operator = OperatorGuard(deps.settings)

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/health", self.health)
        app.router.add_get("/health/live", self.live)
        app.router.add_get("/health/trailing_stop", self.trailing_stop)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_post("/admin/halt", self.halt)
        app.router.add_post("/admin/resume", self.resume)
        app.router.add_get("/admin/state", self.state)

    async def live(self, _request: web.Request) -> web.Response:
        return _json({"live": True})

    async def health(self, _request: web.Request) -> web.Response:
        s = self._deps.settings
        try:
            async with asyncio.timeout(self._deps.health_timeout_s):
                report = await self._deps.health.health()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("health_source_failed", error=type(exc).__name__)
            return _json({"live": True, "ready": False, "problems": ["health_source_unavailable"]}, 503)
        ready, body = assess_health(report, s.ws_heartbeat_timeout_s, s.matrix_max_age_s)
        return _json(body, 200 if ready else 503)

    async def trailing_stop(self, _request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(self._deps.health_timeout_s):
                stats = await self._deps.health.trailing_stop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("trailing_health_failed", error=type(exc).__name__)
            return _json({"error": "trailing-stop state unavailable"}, 503)
        body: dict[str, Any] = {"active": stats.active, "activations": stats.activations, "errors": stats.errors,
                                **stats.history}
        if stats.details:
            body["details"] = dict(stats.details)
        return _json(body)

    async def metrics(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def halt(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        reason = await _halt_reason(request)
        if reason is None:
            return _json({"error": "body must be empty or JSON {\"reason\": \"…\"} (at most 500 characters)"}, 400)
        log.warning("admin_halt", reason=reason, remote=request.remote)
        return _json(await self._deps.admin.halt(reason))

    async def resume(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        log.warning("admin_resume", remote=request.remote)
        return _json(await self._deps.admin.resume())

    async def state(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        return _json(await self._deps.admin.state())

    def _guard(self, request: web.Request) -> web.Response | None:
        return self._operator.denied(request)


async def _halt_reason(request: web.Request) -> str | None:
    raw = await request.read()  # admin callers are authenticated; the app's client_max_size bounds it
    if not raw.strip():
        return "admin halt"
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    reason = obj.get("reason") if isinstance(obj, dict) else None
    if reason is None:
        return "admin halt"
    if not isinstance(reason, str) or len(reason) > 500:
        return None
    return reason
