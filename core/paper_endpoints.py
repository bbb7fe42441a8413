"""Paper mode against a standalone simulator named by one setting (PAPER_SIMULATOR_HOST).

docker compose runs the simulator as its own service. Its URLs used to be written into the compose
file as `${REST_BASE_URL:-simulator:8443}`, which also fills them in when a live `.env` sets them
empty — so live mode needed an edited compose file. Now compose sets only PAPER_SIMULATOR_HOST, and
this function derives the endpoints in paper mode; live mode ignores it and uses Coinbase's hosts.
"""

from __future__ import annotations

from core.settings import Settings


def with_paper_endpoints(settings: Settings) -> Settings:
    """Settings whose exchange endpoints point at PAPER_SIMULATOR_HOST (paper, REST_BASE_URL empty)."""
    host = settings.paper_simulator_host.strip()
    if not settings.is_paper or not host or settings.rest_base_url:
        return settings
    update: dict[str, object] = {"rest_base_url": f"{host}:{settings.sim_rest_port}"}
    if not settings.ws_market_url:
        update["ws_market_url"] = f"ws://{host}:{settings.sim_ws_port}/ws"
    if not settings.ws_user_url:
        update["ws_user_url"] = f"ws://{host}:{settings.sim_ws_port}/ws/user"
    if settings.exchange_ca_file is None:
        update["exchange_ca_file"] = settings.sim_state_dir / "ca.pem"
    if host not in ("127.0.0.1", "localhost", "::1") and host not in settings.paper_exchange_hosts:
        update["paper_exchange_hosts"] = [*settings.paper_exchange_hosts, host]
    return settings.model_copy(update=update)
