"""A standalone sighook in paper mode: the alert secret and the simulator key it needs.

Its webhook is another process (docker compose: another container); both read the same files in
the shared state folder — the alert secret (WEBHOOK_SECRET_FILE) and a standalone simulator's key
file (SIM_STATE_DIR/default-key.json) — so nothing has to be copied between them by hand.
"""

from __future__ import annotations

from pydantic import SecretStr

from core.alert_secret import with_paper_secret
from core.logging import redactor
from core.settings import Settings


async def with_paper_credentials(settings: Settings) -> Settings:
    settings, _path, _created = with_paper_secret(settings)
    redactor.add(*settings.webhook_secret_list())
    if settings.is_paper and settings.rest_base_url and not settings.coinbase_api_key:
        from webhook.exchange_runtime import SIM_KEY_FILE, simulator_key

        name, pem = await simulator_key(settings.sim_state_dir / SIM_KEY_FILE)
        redactor.add(pem)
        settings = settings.model_copy(update={"coinbase_api_key": name, "coinbase_api_secret": SecretStr(pem)})
    return settings
