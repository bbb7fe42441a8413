"""Long crash-restart soak: `python bench/chaos_soak.py --kills 200 [--seed N]`. Prints JSON.

The same driver as the test suite's short soak (tests/e2e/soak.py): the daemon (`both`) trades on a
volatile simulator while it is SIGKILLed at random moments; afterwards fills, balances, FIFO,
trailing stops and live exits are compared with the simulator's own ledger. Uses DATABASE_URL's
server (or an embedded one) and a scratch database it drops afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import load_settings  # noqa: E402
from shared_data import migrate  # noqa: E402
from shared_data.db import create_database, drop_database  # noqa: E402
from shared_data.embedded import EmbeddedPostgres  # noqa: E402
from tests.e2e.soak import run_soak  # noqa: E402


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mode", choices=["both", "webhook"], default="both")
    args = parser.parse_args()
    settings = load_settings()
    embedded = None
    if settings.database_url is None:
        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="bt-soak-pg-")))
        server = embedded.start()
    else:
        server = settings.database_url.get_secret_value()
    name = f"bt_soak_{uuid.uuid4().hex[:8]}"
    url = await create_database(server, name)
    try:
        await migrate.upgrade(url)
        with tempfile.TemporaryDirectory(prefix="bt-soak-") as work:
            result = await run_soak(url, Path(work), kills=args.kills, seed=args.seed, mode=args.mode,
                                    say=lambda m: print(m, file=sys.stderr, flush=True))
        print(json.dumps({"bench": "chaos_soak", **result.as_dict()}, indent=2))
        return 0 if not result.problems else 1
    finally:
        await drop_database(server, name)
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
