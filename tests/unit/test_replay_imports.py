"""A replay's start-up loads only what a replay runs: not the Coinbase SDK and WebSocket stack behind the live
clients, not the web server or HTTP client (the simulator's routes, sighook's alert POSTs), not alembic (a
replay's database is a copy of a migrated template). Together ≈ 0.4 s of every `main.py replay` here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_LOADED = ("coinbase", "aiohttp", "alembic", "exchange.coinbase.rest", "exchange.coinbase.ws_feed",
              "simulator.http.routes_edits")


def _imported(statement: str) -> set[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}


def test_the_replay_loads_no_live_client_web_stack_or_migrations() -> None:
    loaded = _imported("import replay.run, replay.report, replay.cli")
    assert "replay.venue" in loaded and "exchange.coinbase.rest_mapping" in loaded  # the check sees the imports
    assert sorted(name for name in NOT_LOADED if name in loaded) == []


def test_the_live_clients_still_load_what_they_need() -> None:
    loaded = _imported("import exchange.coinbase.clients, simulator.http.routes_edits, shared_data.migrate; "
                       "shared_data.migrate.head_revision()")
    assert {"coinbase", "aiohttp", "alembic", "exchange.coinbase.ws_feed"} <= loaded
