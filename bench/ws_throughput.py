"""Ticker messages per second that one WsFeed sustains on one core.

A local websockets server (a separate process, so it does not share the measured core) blasts
captured-shape ticker frames with a per-connection sequence_num; the feed manager receives, parses,
tracks sequence numbers, records lag metrics and calls a no-op handler. Prints JSON.

    .venv/bin/python bench/ws_throughput.py [--messages 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets
from websockets.asyncio.server import ServerConnection, serve

from core.logging import configure_logging
from exchange.coinbase.ws_feed import WsFeed
from exchange.coinbase.ws_protocol import Ticker, WsEvent

# A production ticker frame (reference §4.4), split around the sequence number.
_PREFIX = '{"channel":"ticker","client_id":"","timestamp":"2023-02-09T20:30:37.167359596Z","sequence_num":'
_SUFFIX = (',"events":[{"type":"update","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"21932.98",'
           '"volume_24_h":"16038.28770938","low_24_h":"21835.29","high_24_h":"23011.18","low_52_w":"15460",'
           '"high_52_w":"48240","price_percent_chg_24_h":"-4.15775596190603","best_bid":"21931.98",'
           '"best_bid_quantity":"8000.21","best_ask":"21933.98","best_ask_quantity":"8038.07770938"}]}]}')
_HEARTBEAT = ('{"channel":"heartbeats","client_id":"","timestamp":"2023-06-23T20:31:26.122969572Z",'
              '"sequence_num":%d,"events":[{"current_time":"2023-06-23 20:31:56.121961769 +0000 UTC",'
              '"heartbeat_counter":%d}]}')


def _serve(port_queue: Any, messages: int) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # heartbeats subscribe
        await ws.recv()  # ticker subscribe
        seq = 0
        for i in range(messages):
            if i % 1000 == 0:  # a heartbeat now and then keeps the watchdog happy, as in production
                await ws.send(_HEARTBEAT % (seq, i // 1000))
                seq += 1
            await ws.send(_PREFIX + str(seq) + _SUFFIX)
            seq += 1
        await ws.wait_closed()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            port_queue.put(server.sockets[0].getsockname()[1] if server.sockets else 0)
            await asyncio.Future()

    asyncio.run(main())


async def measure(url: str, messages: int) -> dict[str, Any]:
    stop = asyncio.Event()
    count = 0
    first_at = 0.0
    cpu_first = 0.0

    def on_event(event: WsEvent) -> None:  # the no-op handler (just counts)
        nonlocal count, first_at, cpu_first
        if isinstance(event, Ticker):
            count += 1
            if count == 1:
                first_at, cpu_first = time.perf_counter(), time.process_time()
            elif count >= messages:
                stop.set()

    feed = WsFeed("bench", url, ["ticker"], ["BTC-USD"], on_event, stop, heartbeat_timeout_s=30)
    runner = asyncio.create_task(feed.run())
    await asyncio.wait_for(stop.wait(), timeout=600)
    elapsed, cpu = time.perf_counter() - first_at, time.process_time() - cpu_first
    await runner
    return {"benchmark": "ws_ticker_throughput", "messages": count, "seconds": round(elapsed, 3),
            "messages_per_s": round((count - 1) / elapsed), "client_cpu_seconds": round(cpu, 3),
            "messages_per_cpu_s": round((count - 1) / cpu) if cpu else None, "sequence_gaps": feed.gaps,
            "handler_errors": feed.handler_errors, "python": platform.python_version(),
            "websockets": websockets.__version__, "cpus": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    configure_logging("WARNING", "json")
    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=_serve, args=(ports, args.messages), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=30)
        result = asyncio.run(measure(f"ws://127.0.0.1:{port}", args.messages))
    finally:
        server.terminate()
        server.join(5)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
