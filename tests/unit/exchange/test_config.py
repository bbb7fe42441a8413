"""CoinbaseConfig: mode-based defaults, explicit overrides, and the paper-mode loopback rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import LIVE_CONFIRMATION_PHRASE, TradingMode, load_settings
from exchange.coinbase.config import (
    LIVE_REST_HOST,
    LIVE_WS_MARKET_URL,
    LIVE_WS_USER_URL,
    CoinbaseConfig,
    ConfigError,
    is_loopback,
)


def test_paper_defaults_point_at_the_simulator(tmp_path: Path) -> None:
    s = load_settings(trading_mode="paper", sim_state_dir=tmp_path, rest_base_url="", ws_market_url="",
                      ws_user_url="", sim_rest_port=9443, sim_ws_port=9765)
    cfg = CoinbaseConfig.from_settings(s)
    assert cfg.mode is TradingMode.PAPER and cfg.rest_host == "127.0.0.1:9443"
    assert cfg.ws_market_url.startswith("ws://127.0.0.1:9765") and cfg.ws_user_url.startswith("ws://127.0.0.1:9765")
    assert cfg.ca_file is None  # no simulator CA generated yet in this folder
    (tmp_path / "ca.pem").write_text("x")
    assert CoinbaseConfig.from_settings(s).ca_file == tmp_path / "ca.pem"


def test_overrides_win(tmp_path: Path) -> None:
    s = load_settings(trading_mode="paper", rest_base_url="127.0.0.1:1")
    cfg = CoinbaseConfig.from_settings(s, rest_host="localhost:4443", ws_market_url="wss://127.0.0.1:5/m",
                                       ws_user_url="ws://[::1]:6/u", ca_file=tmp_path / "c.pem", api_key="k",
                                       api_secret="s")
    assert cfg.rest_host == "localhost:4443" and cfg.ws_user_url == "ws://[::1]:6/u"
    assert cfg.ca_file == tmp_path / "c.pem" and cfg.has_credentials
    assert "api_secret" not in repr(cfg)


def test_live_defaults() -> None:
    s = load_settings(trading_mode="live", live_trading_confirm=LIVE_CONFIRMATION_PHRASE, coinbase_api_key="k",
                      coinbase_api_secret="s", webhook_secrets="x" * 32, rest_base_url="", ws_market_url="",
                      ws_user_url="")
    cfg = CoinbaseConfig.from_settings(s)
    assert (cfg.rest_host, cfg.ws_market_url, cfg.ws_user_url) == (LIVE_REST_HOST, LIVE_WS_MARKET_URL,
                                                                   LIVE_WS_USER_URL)


@pytest.mark.parametrize(("rest", "market"), [("api.coinbase.com", "ws://127.0.0.1:1"),
                                              ("127.0.0.1:1", "wss://advanced-trade-ws.coinbase.com"),
                                              ("10.0.0.5:443", "ws://127.0.0.1:1")])
def test_paper_mode_refuses_non_loopback_hosts(rest: str, market: str) -> None:
    with pytest.raises(ConfigError, match="paper mode (refuses|never talks to Coinbase)"):
        CoinbaseConfig(TradingMode.PAPER, rest, market, "ws://127.0.0.1:2")


def test_paper_mode_allows_listed_simulator_host_but_never_coinbase() -> None:
    cfg = CoinbaseConfig(TradingMode.PAPER, "simulator:8443", "ws://simulator:8765/ws", "ws://simulator:8765/ws/user",
                         paper_hosts=("simulator",))
    assert cfg.rest_host == "simulator:8443"
    with pytest.raises(ConfigError, match="never talks to Coinbase"):
        CoinbaseConfig(TradingMode.PAPER, "api.coinbase.com", "ws://simulator:8765/ws", "ws://simulator:8765/ws/user",
                       paper_hosts=("api.coinbase.com", "simulator"))


@pytest.mark.parametrize("rest", ["https://127.0.0.1:8443", "127.0.0.1:8443/api", ""])
def test_rest_host_must_be_bare_host_port(rest: str) -> None:
    with pytest.raises(ConfigError):
        CoinbaseConfig(TradingMode.PAPER, rest, "ws://127.0.0.1:1", "ws://127.0.0.1:2")


def test_ws_url_needs_ws_scheme() -> None:
    with pytest.raises(ConfigError, match="ws://"):
        CoinbaseConfig(TradingMode.PAPER, "127.0.0.1:1", "http://127.0.0.1:1", "ws://127.0.0.1:2")


@pytest.mark.parametrize(("host", "expected"), [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True),
                                                ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                                ("api.coinbase.com", False), ("", False)])
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected
