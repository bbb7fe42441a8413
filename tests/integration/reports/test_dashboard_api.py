"""The dashboard's HTTP routes on a real aiohttp server (127.0.0.1) over a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.reports.dashboard_fixture import (
    dashboard_data,
    dashboard_settings,
    serve,
    write_dashboard_history,
)

D = Decimal
TIMEOUT = aiohttp.ClientTimeout(total=30)


@pytest.fixture(scope="module")
async def base_url(db_sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[str]:
    await write_dashboard_history(db_sessions)
    async with serve(dashboard_data(dashboard_settings(), db_sessions)) as url:
        yield url


async def get(url: str) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.get(url) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, dict(resp.headers), body


async def test_summary_has_every_section(base_url: str) -> None:
    status, headers, data = await get(base_url + "/api/dashboard/summary")
    assert status == 200 and data["errors"] == {}
    assert "default-src 'self'" in headers["Content-Security-Policy"]

    positions = {p["symbol"]: p for p in data["positions"]}
    assert set(positions) == {"ABC-USD", "BTC-USD"}
    btc = positions["BTC-USD"]
    assert (btc["size"], btc["entry_price"], btc["last_price"]) == ("0.5", "100", "103.2")
    assert btc["unrealized_pnl_usd"] == "1.35"  # 0.5 × 103.2 − (50 + 0.25)
    assert {e["name"] for e in btc["exits"]} == {"hard_stop", "soft_stop", "take_profit", "trailing_activation"}
    tp = next(e for e in btc["exits"] if e["name"] == "take_profit")
    assert (tp["price"], tp["distance_pct"]) == ("106.25", "2.96")  # (106.25 − 103.2) / 103.2
    abc = positions["ABC-USD"]  # TV-2's open lots: 10 @ 50 and 50 @ 130, basis 7011
    assert abc["trailing"]["state"] == "active" and "trailing_stop" in {e["name"] for e in abc["exits"]}

    exits = {g["label"]: g for g in data["exits"]["by_reason"]}
    assert exits["take_profit"]["trades"] == 2 and exits["take_profit"]["total_pnl_usd"] == "16.50"
    assert data["exits"]["overall"]["total_pnl_usd"] == "8.50"

    days = data["pnl_daily"]["days"]
    assert len(days) == 30 and days[-1]["cumulative_pnl_usd"] == "108"  # 8.5 + the $0-basis sell's 99.5
    assert sum(D(d["pnl_usd"]) for d in days) == D("108")

    assert data["orders"][0]["order_id"] == "buy-open" and data["fills"][0]["trade_id"] == "fill-buy-open"
    assert len(data["orders"]) == 20
    assert data["health"]["trading_mode"] == "paper" and data["health"]["entries_halted"] is False


async def test_each_section_has_its_own_endpoint(base_url: str) -> None:
    for name in ("positions", "health", "orders", "fills", "exits", "pnl-daily"):
        status, _headers, _data = await get(f"{base_url}/api/dashboard/{name}")
        assert status == 200, name


async def test_page_and_assets_are_served_and_nothing_else(base_url: str) -> None:
    status, headers, html = await get(base_url + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "/dashboard/assets/dashboard.js" in html and "http" not in html.replace("http-equiv", "")
    status, headers, js = await get(base_url + "/dashboard/assets/dashboard.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript") and "fetch(" in js
    for bad in ("/dashboard/assets/index.html", "/dashboard/assets/..%2Froutes.py", "/dashboard/assets/x.js"):
        assert (await get(base_url + bad))[0] == 404, bad
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.post(base_url + "/api/dashboard/summary") as resp:
        assert resp.status == 405  # read-only
