"""The one "ready" block a person reads when the daemon has started: where everything is.

Pure: `ready_lines` formats values that the daemon gathered. The same fields go into the `ready`
log event, so the JSON log and the console show the same facts.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from shared_data.db import redact_url


@dataclass(frozen=True)
class ReadyInfo:
    mode: str  # both | webhook
    trading_mode: str  # paper | live
    exchange: str  # "in-process simulator at 127.0.0.1:8443", "Coinbase", …
    dashboard_url: str
    alert_url: str
    psql: str
    products: list[str]
    secret_file: Path | None = None  # where the alert secret is, when it came from the file
    dashboard_remote_note: str | None = None  # how non-loopback browsers get in
    state: dict[str, str] = field(default_factory=dict)  # what → where on disk


def psql_command(url: str, psql_binary: str = "psql") -> str:
    """A psql command line for `url`: a Unix-socket URL (embedded server) becomes libpq keywords."""
    parts = urlsplit(url)
    host = parse_qs(parts.query).get("host", [""])[0]
    dbname = parts.path.lstrip("/") or "postgres"
    if host and not parts.hostname:
        user = parts.username or "postgres"
        return f"{psql_binary} 'host={host} dbname={dbname} user={user}'"
    return f"{psql_binary} '{redact_url(url)}'"


def psql_binary() -> str:
    """`psql` when on PATH, else the one bundled with pgserver (the embedded server's own)."""
    if shutil.which("psql"):
        return "psql"
    try:
        from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError:
        return "psql"
    bundled = Path(POSTGRES_BIN_PATH) / "psql"
    return str(bundled) if bundled.exists() else "psql"


def ready_lines(info: ReadyInfo) -> list[str]:
    mode = "PAPER (simulated money)" if info.trading_mode == "paper" else "LIVE — real money"
    products = ", ".join(info.products) if info.products else "none"
    lines = [
        f"bottrader is ready — {info.mode}, {mode}",
        f"  exchange:   {info.exchange}",
        f"  products:   {products}",
        f"  dashboard:  {info.dashboard_url}",
    ]
    if info.dashboard_remote_note:
        lines.append(f"              {info.dashboard_remote_note}")
    lines.append(f"  alerts:     POST {info.alert_url}")
    if info.secret_file is not None:
        lines.append(f"  secret:     {info.secret_file} (alert bodies carry it as \"secret\"; "
                     f"see README: Quick start)")
    lines.append(f"  database:   {info.psql}")
    for what, where in info.state.items():
        lines.append(f"  {what + ':':<11} {where}")
    lines.append("  stop:       Ctrl-C (or SIGTERM)")
    return lines
