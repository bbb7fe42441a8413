"""CPU cost of reading an alert: the normaliser beside the JSON decode it starts from (same run).

    .venv/bin/python bench/alert_parse_bench.py [--rounds 20000]

Measured in process CPU time (not wall time), so a busy machine changes the figures less than the
HTTP bench's (bench/alerts_bench.py). Shapes: the bench's own alert, a strategy alert with nested
`strategy.order` fields and extra keys, and a plain-text line. Prints one JSON object:
`reference_decode_us` (json decode + storability check alone) beside `normalise_us` (decode +
field lookup + normalise) per shape.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webhook.alerts.normalise import Fields, normalise_json, secret_in
from webhook.alerts.plain_text import parse_text
from webhook.alerts.schema import decode_body

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
SHAPES: dict[str, bytes] = {
    "bench_alert": json.dumps({"secret": "s" * 43, "id": "bench-x-1", "ticker": "BTCUSD", "action": "buy",
                               "quantity": "0.001", "price": "50000", "time": "2026-11-21T15:00:00Z"}).encode(),
    "strategy_alert": json.dumps({"passphrase": "s" * 43, "ticker": "COINBASE:ETHUSD", "timenow":
                                  "2026-11-21T15:00:00Z", "time": "2026-11-21T14:00:00Z", "interval": "60",
                                  "close": "3000.5", "plot_0": "31.2", "strategy": {
                                      "order": {"action": "buy", "contracts": "0.01", "price": "3000",
                                                "id": "Long", "comment": "{{strategy.order.comment}}"},
                                      "market_position": "long", "position_size": "0.01"}}).encode(),
}
TEXT = b"buy ETHUSD $50 2026-11-21T15:00:00Z"


def _per_call_us(fn: Any, rounds: int) -> float:
    start = time.process_time()
    for _ in range(rounds):
        fn()
    return round((time.process_time() - start) / rounds * 1e6, 2)


def run(rounds: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, raw in SHAPES.items():
        def decode(raw: bytes = raw) -> None:
            decode_body(raw)

        def normalise(raw: bytes = raw) -> None:
            obj = decode_body(raw)
            assert isinstance(obj, dict)
            fields = Fields(obj)
            secret_in(fields)
            normalise_json(obj, fields)

        results[name] = {"reference_decode_us": _per_call_us(decode, rounds),
                         "normalise_us": _per_call_us(normalise, rounds)}
    results["plain_text"] = {"reference_decode_us": _per_call_us(lambda: TEXT.decode().split(), rounds),
                             "normalise_us": _per_call_us(lambda: parse_text(TEXT, NOW), rounds)}
    return {"benchmark": "alert_parse", "rounds": rounds, "load_avg_1m": round(os.getloadavg()[0], 2),
            "shapes": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20000)
    args = parser.parse_args()
    print(json.dumps(run(args.rounds), indent=2))


if __name__ == "__main__":
    main()
