"""A replay's pages in headless Chromium: the self-contained report.html, and the daemon's dashboard
served over the replay's database (`replay-dashboard`)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from replay.dashboard import build_app
from replay.render import write_reports
from replay.run import ReplayRequest
from shared_data.db import create_engine, session_factory
from tests.e2e.test_dashboard_browser import run_chromium, section
from tests.integration.replay.scripted import SETTINGS, write_scripted
from tests.integration.replay.support import Runner, run_replay

__all__ = ["run_replay"]  # the fixture


async def test_report_page_and_dashboard_render(tmp_path: Path, run_replay: Runner) -> None:
    outcome = await run_replay(ReplayRequest(data=(str(write_scripted(tmp_path / "s.csv")),), overrides=SETTINGS))
    paths = write_reports(outcome, tmp_path / "report")

    dom, _ = await run_chromium("--dump-dom", paths["html"].as_uri())
    assert dom.count("<svg") == 2 and "soft_stop" in dom and "-4.93" in dom
    assert "97.50975" in dom  # the trade's target price, in the trades table

    engine = create_engine(outcome.database_url.replace("***", ""), pool_size=2)
    runner = web.AppRunner(await build_app(outcome.settings, session_factory(engine)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        dom, _ = await run_chromium("--dump-dom", f"http://127.0.0.1:{port}/")
    finally:
        await runner.cleanup()
        await engine.dispose()
    assert "soft_stop" in section(dom, "exits")
    fills = section(dom, "fills")
    assert ">SELL<" in fills and ">BUY<" in fills and "97.3900" in fills
    assert "losing_streak" in dom  # the breaker the scripted loss tripped
