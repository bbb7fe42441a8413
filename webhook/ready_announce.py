"""Gathers the ready block's facts from the running daemon and shows them (stdout + `ready` event)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from core.logging import get_logger
from core.settings import Settings
from webhook.exchange_runtime import ExchangeRuntime
from webhook.ready import ReadyInfo, psql_binary, psql_command, ready_lines

log = get_logger(__name__)


def ready_info(settings: Settings, db_url: str, exchange: ExchangeRuntime, parts: dict[str, Any], mode: str,
               secret_file: Path | None) -> ReadyInfo:
    alert_url = str(parts["alert_url"])
    dashboard_url = alert_url.removesuffix("webhook")
    remote_note = None
    if settings.webhook_host not in ("127.0.0.1", "::1", "localhost"):
        remote_note = ("(from other hosts or through docker: any user name, password = ADMIN_TOKEN"
                       + (f", here in {settings.admin_token_file})" if _token_from_file(settings) else ")"))
    if exchange.simulator is not None:
        venue = f"in-process simulator at https://{exchange.config.rest_host} (key and CA in {settings.sim_state_dir})"
    elif settings.is_paper:
        venue = f"simulator at https://{exchange.config.rest_host}"
    else:
        venue = f"Coinbase at https://{exchange.config.rest_host}"
    state = {"state": str(settings.pgdata_dir) + " (database)" if settings.database_url is None
             else "DATABASE_URL (external PostgreSQL)"}
    if settings.is_paper:
        state["simulator"] = str(settings.sim_state_dir)
    return ReadyInfo(mode=mode, trading_mode=settings.trading_mode.value, exchange=venue,
                     dashboard_url=dashboard_url, alert_url=alert_url,
                     psql=psql_command(db_url, psql_binary()), products=list(parts.get("products") or []),
                     secret_file=secret_file, dashboard_remote_note=remote_note, state=state)


def _token_from_file(settings: Settings) -> bool:
    try:
        text = settings.admin_token_file.read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return bool(text) and text == settings.admin_token.get_secret_value()


def announce_ready(settings: Settings, db_url: str, exchange: ExchangeRuntime, parts: dict[str, Any], mode: str,
                   secret_file: Path | None) -> ReadyInfo:
    info = ready_info(settings, db_url, exchange, parts, mode, secret_file)
    try:
        sys.stdout.write("\n".join(ready_lines(info)) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass  # a closed stdout must not stop the daemon
    log.info("ready", mode=mode, trading_mode=info.trading_mode, dashboard_url=info.dashboard_url,
             alert_url=info.alert_url, alert_auth_file=None if secret_file is None else str(secret_file),
             psql=info.psql, products=info.products, exchange=info.exchange, state=info.state)
    return info
