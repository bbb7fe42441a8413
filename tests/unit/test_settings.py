"""Settings validation: bad values fail at start with a message naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from core.settings import LIVE_CONFIRMATION_PHRASE, Settings, SettingsError, env_example, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_valid_and_safe() -> None:
    s = load_settings()
    assert s.is_paper
    assert s.stop_loss_hard_pct == Decimal("-5.0")
    assert s.stop_loss_soft_pct == Decimal("-2.5")
    assert s.sentinel_sweep_interval_s == 3.0
    assert isinstance(s.take_profit_pct, Decimal)


def test_non_decimal_stop_loss_names_the_setting() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(stop_loss_hard_pct="abc")
    assert "STOP_LOSS_HARD_PCT" in str(err.value)
    assert "\n" not in str(err.value)


def test_positive_stop_loss_is_rejected() -> None:
    with pytest.raises(SettingsError, match="STOP_LOSS_HARD_PCT"):
        load_settings(stop_loss_hard_pct="5")


def test_soft_stop_wider_than_hard_stop_is_rejected() -> None:
    with pytest.raises(SettingsError, match="STOP_LOSS_SOFT_PCT must be above STOP_LOSS_HARD_PCT"):
        load_settings(stop_loss_hard_pct="-5", stop_loss_soft_pct="-6")


def test_trailing_clamp_must_be_ordered() -> None:
    with pytest.raises(SettingsError, match="TRAILING_MIN_DISTANCE_PCT"):
        load_settings(trailing_min_distance_pct="3", trailing_max_distance_pct="2")


def test_live_mode_needs_explicit_confirmation_and_keys() -> None:
    with pytest.raises(SettingsError, match="LIVE_TRADING_CONFIRM"):
        load_settings(trading_mode="live")
    with pytest.raises(SettingsError, match="COINBASE_API_KEY"):
        load_settings(trading_mode="live", live_trading_confirm=LIVE_CONFIRMATION_PHRASE)
    ok = load_settings(
        trading_mode="live", live_trading_confirm=LIVE_CONFIRMATION_PHRASE,
        coinbase_api_key="organizations/x/apiKeys/y",
        coinbase_api_secret="-----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY-----",
        webhook_secrets="s" * 40,
    )
    assert not ok.is_paper


def test_short_webhook_secret_is_rejected_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(webhook_secrets="tooshort-secret")
    assert "WEBHOOK_SECRETS" in str(err.value)
    assert "tooshort-secret" not in str(err.value)


def test_lists_come_from_comma_separated_env() -> None:
    s = load_settings(hodl_assets="btc, eth", sim_products="BTC-USD,ETH-USD")
    assert s.hodl_assets == ["BTC", "ETH"]
    assert s.sim_products == ["BTC-USD", "ETH-USD"]


def test_env_example_documents_every_setting() -> None:
    text = env_example()
    for name in Settings.model_fields:
        assert f"\n{name.upper()}=" in text, name


def test_committed_env_example_is_current() -> None:
    assert (ROOT / ".env.example").read_text() == env_example(), "run: python main.py config example > .env.example"


def _run_cli(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | env_extra
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_cli_bad_setting_exits_nonzero_with_one_line() -> None:
    proc = _run_cli({"STOP_LOSS_HARD_PCT": "abc"}, "both")
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "STOP_LOSS_HARD_PCT" in lines[0]


def test_cli_help_explains_each_mode() -> None:
    proc = _run_cli({}, "--help")
    assert proc.returncode == 0
    for mode in ("webhook", "sighook", "both", "simulator", "migrate"):
        assert mode in proc.stdout
