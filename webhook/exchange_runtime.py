"""Which exchange the daemon talks to: the in-process simulator, a standalone one, or Coinbase."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.logging import get_logger, mask_key, redactor
from core.settings import Settings
from exchange.coinbase.clients import CoinbaseConfig, CoinbaseRestAdapter, build_rest_adapter

if TYPE_CHECKING:
    from simulator.app import RunningSimulator

log = get_logger(__name__)


SIM_KEY_FILE = "default-key.json"  # written by a standalone simulator into its state folder
KEY_FILE_WAIT_S = 60.0


async def simulator_key(path: Path) -> tuple[str, str]:
    """Paper mode against a standalone simulator (docker compose): use the key it wrote for us."""
    deadline = asyncio.get_running_loop().time() + KEY_FILE_WAIT_S
    while not await asyncio.to_thread(path.exists):
        if asyncio.get_running_loop().time() > deadline:
            raise ExchangeRefused(f"no COINBASE_API_KEY and no simulator key file at {path}; start the simulator "
                                  "first or run `python main.py simulator-keygen`")
        await asyncio.sleep(1.0)
    data = json.loads(await asyncio.to_thread(path.read_text))
    return str(data["name"]), str(data["privateKey"])


class ExchangeRefused(RuntimeError):
    """The exchange configuration is unsafe to trade with (e.g. a key that can withdraw)."""


@dataclass
class ExchangeRuntime:
    config: CoinbaseConfig
    rest: CoinbaseRestAdapter
    simulator: RunningSimulator | None = None

    async def close(self) -> None:
        if self.simulator is not None:
            await self.simulator.stop()


async def open_exchange(settings: Settings) -> ExchangeRuntime:
    """Paper mode without REST_BASE_URL starts the simulator in this process, on loopback."""
    if settings.is_paper and not settings.rest_base_url:
        from simulator.app import start_simulator
        from simulator.config import SimulatorConfig
        from simulator.standalone import ensure_default_key

        sim_config = SimulatorConfig.from_settings(settings)
        # The same key file a standalone simulator writes, so the README's SDK snippet works under ./run.sh.
        key_file = await asyncio.to_thread(ensure_default_key, sim_config.state_dir)
        sim = await start_simulator(sim_config)
        sim_key_name, sim_key_pem = await simulator_key(key_file)
        redactor.add(sim_key_pem)
        config = CoinbaseConfig.from_settings(
            settings, rest_host=sim.rest_host, ws_market_url=sim.ws_market_url, ws_user_url=sim.ws_user_url,
            ca_file=sim.ca_file, api_key=sim_key_name, api_secret=sim_key_pem,
        )
        log.info("exchange_selected", kind="in_process_simulator", rest_host=sim.rest_host,
                 key=mask_key(sim_key_name),
                 key_file=str(key_file), ca_file=str(sim.ca_file))
        return ExchangeRuntime(config, build_rest_adapter(config), sim)
    key_name, key_pem = None, None
    if settings.is_paper and not settings.coinbase_api_key:
        key_name, key_pem = await simulator_key(settings.sim_state_dir / SIM_KEY_FILE)
        redactor.add(key_pem)
    config = CoinbaseConfig.from_settings(settings, api_key=key_name, api_secret=key_pem)
    rest = build_rest_adapter(config)
    log.info("exchange_selected", kind="paper_simulator" if settings.is_paper else "coinbase_live",
             rest_host=config.rest_host, key=mask_key(config.api_key) if config.api_key else "")
    if not settings.is_paper:
        perms = await rest.get_key_permissions()
        if not perms.can_trade or perms.can_transfer:
            raise ExchangeRefused(
                f"refusing to trade live with this key: can_trade={perms.can_trade} can_transfer={perms.can_transfer} "
                "(use a key that can trade and cannot transfer)"
            )
    return ExchangeRuntime(config, rest)
