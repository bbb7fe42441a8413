"""Reads of the running daemon over HTTP: /health/trailing_stop and /metrics. Timeouts on every call."""

from __future__ import annotations

from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

HTTP_TIMEOUT_S = 5.0
TICKS = "bt_market_ticks_total"


class DaemonProbe:
    def __init__(self, base_url: str, admin_token: str = "") -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> DaemonProbe:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S),
                                           headers=self._headers)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._http is not None:
            await self._http.close()

    async def _get(self, path: str) -> tuple[int, str]:
        assert self._http is not None
        async with self._http.get(self._base + path) as resp:
            return resp.status, await resp.text()

    async def trailing(self) -> dict[str, Any]:
        import json

        status, body = await self._get("/health/trailing_stop")
        if status != 200:
            raise RuntimeError(f"/health/trailing_stop answered HTTP {status}")
        data = json.loads(body)
        if not isinstance(data, dict):
            raise RuntimeError("/health/trailing_stop did not answer a JSON object")
        return data

    async def metrics(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        status, body = await self._get("/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics answered HTTP {status} (set ADMIN_TOKEN when not on loopback)")
        return parse_metrics(body)


def parse_metrics(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Sample name → (sorted label pairs) → value."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = float(sample.value)
    return out


def ticks_by_symbol(metrics: dict[str, dict[tuple[tuple[str, str], ...], float]]) -> dict[str, float]:
    return {dict(labels).get("symbol", ""): value for labels, value in metrics.get(TICKS, {}).items()}
