"""`halt`, `risk-status` and `resume` through the CLI handlers, against a real database."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal

import pytest

from core.settings import load_settings
from risk import cli
from risk.manager import RiskManager
from risk.rules import Breaker
from shared_data.db import create_engine, session_factory


def printed(capsys: pytest.CaptureFixture[str]) -> dict:
    """The JSON a handler printed (structlog, unconfigured in tests, also writes to stdout before it)."""
    out = capsys.readouterr().out
    start = 0 if out.startswith("{") else out.index("\n{") + 1
    return json.loads(out[start:])


async def test_halt_status_resume(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(database_url=db_url)
    engine = create_engine(db_url, pool_size=1)
    risk = RiskManager(session_factory(engine), settings)  # stands in for the running daemon

    assert await cli.cmd_halt(settings, argparse.Namespace(reason="exchange maintenance", json=True)) == 0
    assert printed(capsys) == {"halted": True, "reason": "exchange maintenance"}
    verdict = await risk.check_entry("SOL-USD", Decimal("10"), Decimal("1000"), quote_age_s=1.0)
    assert not verdict.allowed and verdict.breakers == (Breaker.KILL_SWITCH,)
    assert "exchange maintenance" in verdict.reasons[0]

    assert await cli.cmd_risk_status(settings, argparse.Namespace()) == 0  # for people: text, USD to cents
    text_out = capsys.readouterr().out
    assert "entries: BLOCKED" in text_out and "kill_switch: TRIPPED" in text_out
    assert "exchange maintenance" in text_out and "realized P&L $0.00" in text_out

    assert await cli.cmd_risk_status(settings, argparse.Namespace(json=True)) == 0
    status = printed(capsys)
    assert status["entries_blocked"] is True
    assert status["breakers"]["kill_switch"]["reason"] == "exchange maintenance"

    assert await cli.cmd_resume(settings, argparse.Namespace(breaker=None, json=True)) == 0
    assert printed(capsys) == {"cleared": ["kill_switch"], "entries_blocked": False}
    assert (await risk.check_entry("SOL-USD", Decimal("10"), Decimal("1000"), quote_age_s=1.0)).allowed
    await engine.dispose()


async def test_resume_all_and_a_database_behind_head(db_url: str, pg_server_url: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(database_url=db_url)
    assert await cli.cmd_resume(settings, argparse.Namespace(breaker=["all"], json=True)) == 0
    assert printed(capsys)["cleared"] == []

    from shared_data.db import drop_database
    from tests.conftest import make_test_database

    name, empty_url = await make_test_database(pg_server_url, migrated=False)
    try:
        assert await cli.cmd_halt(load_settings(database_url=empty_url), argparse.Namespace(reason="x")) == 3
        assert "migrate" in capsys.readouterr().err
    finally:
        await drop_database(pg_server_url, name)


def test_verbs_are_registered() -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["halt", "--reason", "why"])
    assert args.handler is cli.cmd_halt and args.reason == "why"
    assert parser.parse_args(["resume", "--breaker", "daily_loss"]).breaker == ["daily_loss"]
    assert parser.parse_args(["risk-status"]).handler is cli.cmd_risk_status
