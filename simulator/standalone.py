"""`python main.py simulator`: the simulator on the SIM_* settings until SIGINT/SIGTERM.

Certificates are created under SIM_STATE_DIR on first start; public keys registered with
`python main.py simulator-keygen` (or found in `keys.json` there) are accepted, and a first key
pair is written to `default-key.json` (the CDP key-file format the SDK reads with `key_file=`)
so the simulator is usable straight away.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from core.logging import get_logger
from core.settings import Settings
from simulator.app import SimulatorConfig, start_simulator
from simulator.keys import KEYS_FILE_NAME, TestKey, append_to_keys_file, generate_key_pair, read_keys_file

log = get_logger(__name__)
DEFAULT_KEY_FILE = "default-key.json"


def write_key_file(path: Path, key: TestKey) -> None:
    """A CDP-style key file ({"name", "privateKey"}), readable only by its owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"name": key.name, "privateKey": key.private_pem}, fh, indent=2)


def ensure_default_key(state_dir: Path) -> Path:
    """Create and register a first key pair unless the keys file already has keys."""
    key_path = state_dir / DEFAULT_KEY_FILE
    if read_keys_file(state_dir / KEYS_FILE_NAME) and key_path.exists():
        return key_path
    key = generate_key_pair()
    write_key_file(key_path, key)
    append_to_keys_file(state_dir / KEYS_FILE_NAME, key.name, key.public_pem)
    return key_path


async def run_simulator(settings: Settings, stop: asyncio.Event) -> None:
    config = SimulatorConfig.from_settings(settings, persist_keys=True)
    key_file = ensure_default_key(config.state_dir)
    sim = await start_simulator(config)
    log.info(
        "simulator_ready",
        rest_base_url=sim.rest_host,
        ws_market_url=sim.ws_market_url,
        ws_user_url=sim.ws_user_url,
        ca_file=str(sim.ca_file),
        key_file=str(key_file),
        admin_url=sim.admin_url,
        how_to=(f"RESTClient(key_file='{key_file}', base_url='{sim.rest_host}', timeout=10); "
                f"client.session.trust_env = False; client.session.verify = '{sim.ca_file}'. "
                f"Daemon: REST_BASE_URL={sim.rest_host} WS_MARKET_URL={sim.ws_market_url} "
                f"WS_USER_URL={sim.ws_user_url} EXCHANGE_CA_FILE={sim.ca_file}. "
                "More keys: python main.py simulator-keygen"),
    )
    try:
        await stop.wait()
    finally:
        await sim.stop()
