"""Where and how the adapter talks to an exchange: live Coinbase or the local simulator, one code path.

Safety rule: in paper mode every host must be loopback, so a paper run can never reach Coinbase.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from core.settings import Settings, TradingMode

LIVE_REST_HOST = "api.coinbase.com"
LIVE_WS_MARKET_URL = "wss://advanced-trade-ws.coinbase.com"
LIVE_WS_USER_URL = "wss://advanced-trade-ws-user.coinbase.com"
SIM_CA_FILE_NAME = "ca.pem"  # written by simulator.tls under SIM_STATE_DIR
SIM_WS_MARKET_PATH = "/ws"
SIM_WS_USER_PATH = "/ws/user"


class ConfigError(ValueError):
    """The exchange configuration is unusable or unsafe; the message names the problem."""


@dataclass(frozen=True, slots=True)
class CoinbaseConfig:
    mode: TradingMode
    rest_host: str  # host[:port], no scheme (the SDK prepends https://)
    ws_market_url: str
    ws_user_url: str
    ca_file: Path | None = None
    api_key: str = ""
    api_secret: str = field(default="", repr=False)
    rest_timeout_s: float = 10.0
    rest_max_retries: int = 4
    rest_backoff_base_s: float = 0.25
    rest_backoff_max_s: float = 8.0
    rate_private_per_s: float = 25.0
    rate_public_per_s: float = 8.0
    ws_heartbeat_timeout_s: float = 10.0
    ws_backoff_base_s: float = 0.5
    ws_backoff_max_s: float = 30.0
    ws_open_timeout_s: float = 10.0
    # How often an ongoing WS outage is reported again (log + on_outage hook); no setting exists for it yet.
    ws_outage_alert_interval_s: float = 30.0
    # Non-loopback hosts paper mode may use (the simulator's name under docker compose).
    paper_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if "://" in self.rest_host or "/" in self.rest_host:
            raise ConfigError(f"REST_BASE_URL must be host[:port] without scheme or path, got {self.rest_host!r}")
        if not self.rest_host:
            raise ConfigError("REST host is empty")
        for url in (self.ws_market_url, self.ws_user_url):
            if urlsplit(url).scheme not in ("ws", "wss"):
                raise ConfigError(f"WebSocket URL must start with ws:// or wss://, got {url!r}")
        if self.mode is TradingMode.PAPER:
            for host in (_host_of_hostport(self.rest_host), urlsplit(self.ws_market_url).hostname,
                         urlsplit(self.ws_user_url).hostname):
                name = (host or "").lower()
                if name == "coinbase.com" or name.endswith(".coinbase.com"):
                    raise ConfigError(f"paper mode never talks to Coinbase, got host {host!r}")
                if not is_loopback(name) and name not in {h.lower() for h in self.paper_hosts}:
                    raise ConfigError(f"paper mode refuses non-loopback exchange host {host!r} "
                                      "(list a simulator host in PAPER_EXCHANGE_HOSTS)")

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key and self.api_secret)

    @classmethod
    def from_settings(cls, settings: Settings, *, rest_host: str | None = None, ws_market_url: str | None = None,
                      ws_user_url: str | None = None, ca_file: Path | str | None = None, api_key: str | None = None,
                      api_secret: str | None = None) -> CoinbaseConfig:
        """Explicit arguments win over settings; empty settings fall back to the mode's hosts."""
        paper = settings.trading_mode is TradingMode.PAPER
        host = rest_host or settings.rest_base_url or (
            f"{_bracket(settings.sim_host)}:{settings.sim_rest_port}" if paper else LIVE_REST_HOST)
        sim_ws = f"ws://{_bracket(settings.sim_host)}:{settings.sim_ws_port}"
        market = ws_market_url or settings.ws_market_url or (sim_ws + SIM_WS_MARKET_PATH if paper
                                                             else LIVE_WS_MARKET_URL)
        user = ws_user_url or settings.ws_user_url or (sim_ws + SIM_WS_USER_PATH if paper else LIVE_WS_USER_URL)
        ca: Path | None = Path(ca_file) if ca_file else settings.exchange_ca_file
        if ca is None and paper:
            default_ca = settings.sim_state_dir / SIM_CA_FILE_NAME
            ca = default_ca if default_ca.exists() else None
        return cls(
            mode=settings.trading_mode,
            rest_host=host,
            ws_market_url=market,
            ws_user_url=user,
            ca_file=ca,
            api_key=api_key if api_key is not None else settings.coinbase_api_key,
            api_secret=api_secret if api_secret is not None else settings.coinbase_api_secret.get_secret_value(),
            rest_timeout_s=settings.rest_timeout_s,
            rest_max_retries=settings.rest_max_retries,
            rest_backoff_base_s=settings.rest_backoff_base_s,
            rest_backoff_max_s=settings.rest_backoff_max_s,
            rate_private_per_s=settings.rest_rate_private_per_s,
            rate_public_per_s=settings.rest_rate_public_per_s,
            ws_heartbeat_timeout_s=settings.ws_heartbeat_timeout_s,
            ws_backoff_max_s=settings.ws_backoff_max_s,
            paper_hosts=tuple(settings.paper_exchange_hosts),
        )


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of_hostport(hostport: str) -> str:
    if hostport.startswith("["):
        return hostport[1:].split("]", 1)[0]
    if hostport.count(":") > 1:  # bare IPv6 without port
        return hostport
    return hostport.rsplit(":", 1)[0] if ":" in hostport else hostport


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
