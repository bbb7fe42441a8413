"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium), served by a real aiohttp
server on 127.0.0.1 over a real PostgreSQL. The page's own JavaScript must render a filled position;
a screenshot is saved to test-artifacts/dashboard.png."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.reports.dashboard_fixture import (
    dashboard_data,
    dashboard_settings,
    serve,
    write_dashboard_history,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_TIMEOUT_S = 90
# No network beyond 127.0.0.1, no profile, no background services.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    "--virtual-time-budget=5000",
]


@pytest.fixture(scope="module")
async def page_url(db_sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[str]:
    await write_dashboard_history(db_sessions)
    async with serve(dashboard_data(dashboard_settings(), db_sessions)) as url:
        yield url + "/"


def chromium() -> str:
    assert CHROMIUM.exists(), "Debian's chromium is needed: apt-get install -y chromium"
    return str(CHROMIUM)


async def run_chromium(*args: str) -> tuple[str, str]:
    with tempfile.TemporaryDirectory(prefix="bt-chromium-") as profile:
        proc = await asyncio.create_subprocess_exec(
            chromium(), *FLAGS, f"--user-data-dir={profile}", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
            env={**os.environ, "HOME": profile},
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=CHROMIUM_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the browser we started, and its helpers
            await proc.wait()
            raise
        assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
        return out.decode(errors="replace"), err.decode(errors="replace")


def section(dom: str, tbody_id: str) -> str:
    match = re.search(rf'<tbody id="{tbody_id}">(.*?)</tbody>', dom, re.DOTALL)
    assert match, f"no tbody#{tbody_id} in the rendered page"
    return match.group(1)


async def test_filled_position_appears_in_the_rendered_page(page_url: str) -> None:
    dom, _err = await run_chromium("--dump-dom", page_url)
    positions = section(dom, "positions")
    # Rendered by the page's script from /api/dashboard/summary (the served HTML has an empty tbody).
    assert 'data-symbol="BTC-USD"' in positions and 'data-symbol="ABC-USD"' in positions
    btc_row = re.search(r'<tr data-symbol="BTC-USD">(.*?)</tr>', positions, re.DOTALL)
    assert btc_row and ">0.5<" in btc_row.group(1) and "$1.35" in btc_row.group(1)
    assert "take profit" in btc_row.group(1) and "106.2500" in btc_row.group(1)
    assert "take_profit" in section(dom, "exits")
    assert "buy-open" in section(dom, "orders") and "fill-buy" in section(dom, "fills")
    assert "<svg" in dom and 'class="bar-pos"' in dom and 'class="cumulative"' in dom
    assert "entries allowed" in dom and "updated 2026-03-10" in dom


async def test_screenshot_is_saved(page_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)
    await run_chromium(f"--screenshot={shot}", "--window-size=1400,1700", page_url)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
