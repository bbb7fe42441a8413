"""Alert endpoint throughput and latency with the durable insert (targets: ≥ 1,500 alerts/s; p99 ≤ 50 ms).

    DATABASE_URL=postgresql://… .venv/bin/python bench/alerts_bench.py [--alerts 6000] [--concurrency 64]
                                                                         [--rate 500] [--seconds 10]

The app runs in a child process (as in production: one process serving HTTP), on 127.0.0.1, over a
throwaway database on DATABASE_URL's server (or an embedded one). Logging is on at INFO (JSON to
/dev/null) so its cost is counted. Every alert is unique (its own id), authenticated, valid and
stored (`INSERT … ON CONFLICT DO NOTHING` + COMMIT) before the 200. No worker runs.

- `throughput`: `--alerts` alerts from `--concurrency` concurrent aiohttp clients → accepted/s.
- `steady`: an open-loop schedule of `--rate` alerts/s for `--seconds`; latency is measured from each
  alert's scheduled send time (so a stalled client cannot hide server delay), p50/p90/p99/max.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from core.settings import load_settings

TARGET_ALERTS_PER_S = 1500
TARGET_P99_MS = 50.0
SECRET = secrets.token_urlsafe(32)
PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD"]


def _serve(db_url: str, secret: str, conn: Connection) -> None:
    """Child process: serve the real app until the parent closes the pipe."""
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    from core.clock import SystemClock
    from core.logging import configure_logging
    from shared_data.db import create_engine, session_factory
    from webhook.alerts.limits import RecordBudget
    from webhook.alerts.symbols import SymbolMap
    from webhook.http.app import INBOX_KEY, build_app
    from webhook.http.deps import HealthReport, HttpDeps, TrailingStopHealth
    from webhook.http.server import start_server

    class Health:
        async def health(self) -> HealthReport:
            return HealthReport(True, True, 0.0, 0.0)

        async def trailing_stop(self) -> TrailingStopHealth:
            return TrailingStopHealth(0, 0, 0)

    class Admin:
        async def halt(self, reason: str) -> dict[str, Any]:
            return {}

        async def resume(self) -> dict[str, Any]:
            return {}

        async def state(self) -> dict[str, Any]:
            return {}

    async def main() -> None:
        settings = load_settings(webhook_secrets=secret, alert_rate_limit_per_min=10**9,
                                 max_order_notional_usd="1000000", log_format="json")
        configure_logging("INFO", "json", secrets=[secret])
        engine = create_engine(db_url, pool_size=20)
        deps = HttpDeps(settings=settings, sessions=session_factory(engine), health=Health(), admin=Admin(),
                        symbols=SymbolMap.from_products(PRODUCTS), clock=SystemClock(), wake=lambda: None,
                        record_budget=RecordBudget())
        app = build_app(deps)
        inbox = app[INBOX_KEY]
        server = await start_server(app, "127.0.0.1", 0, access_log=False)
        conn.send(server.port)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def on_message() -> None:  # "cpu" → this process's CPU seconds so far; anything else or EOF → stop
            try:
                message = conn.recv()
            except EOFError:
                message = None
            if message == "cpu":
                conn.send(time.process_time())
            elif message == "inbox":
                flushes = sorted(inbox.stats.recent_flush_s)
                conn.send({"batches": inbox.stats.batches, "rows": inbox.stats.rows,
                           "largest_batch": inbox.stats.largest_batch,
                           "flush_p50_ms": round(flushes[len(flushes) // 2] * 1000, 2) if flushes else None,
                           "flush_p99_ms": round(flushes[int(len(flushes) * 0.99)] * 1000, 2) if flushes else None,
                           "flush_max_ms": round(flushes[-1] * 1000, 2) if flushes else None})
                inbox.stats.batches = inbox.stats.rows = inbox.stats.largest_batch = 0
                inbox.stats.recent_flush_s.clear()
            else:
                loop.remove_reader(conn.fileno())
                done.set()

        loop.add_reader(conn.fileno(), on_message)
        await done.wait()
        await server.stop()
        await engine.dispose()

    asyncio.run(main())


def _body(i: int, run: str) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"secret": SECRET, "id": f"bench-{run}-{i}", "ticker": "BTCUSD", "action": "buy",
                       "quantity": "0.001", "price": "50000", "time": now}).encode()


async def _post(http: aiohttp.ClientSession, url: str, body: bytes) -> int:
    async with http.post(url, data=body, headers={"Content-Type": "text/plain"}) as resp:
        await resp.read()
        return resp.status


async def warm_up(url: str, alerts: int = 300) -> None:
    """Connections, prepared statements, caches — not counted."""
    run = uuid.uuid4().hex[:8]
    async with aiohttp.ClientSession() as http:
        for chunk in range(0, alerts, 30):
            await asyncio.gather(*(_post(http, url, _body(i, run)) for i in range(chunk, chunk + 30)))


async def throughput(url: str, alerts: int, concurrency: int) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    bodies = [_body(i, run) for i in range(alerts)]
    statuses: dict[int, int] = {}
    next_index = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def client() -> None:
            nonlocal next_index
            while next_index < alerts:
                body = bodies[next_index]
                next_index += 1
                status = await _post(http, url, body)
                statuses[status] = statuses.get(status, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    accepted = statuses.get(200, 0)
    return {"alerts": alerts, "concurrency": concurrency, "seconds": round(elapsed, 3),
            "accepted": accepted, "statuses": statuses, "accepted_per_s": round(accepted / elapsed, 1)}


async def steady(url: str, rate: float, seconds: float) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    total = int(rate * seconds)
    bodies = [_body(i, run) for i in range(total)]
    latencies: list[float] = []  # from the scheduled send time (open loop: client stalls count too)
    from_send: list[float] = []  # from the moment the client actually started the request
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def one(i: int, scheduled: float) -> None:
            sent = time.perf_counter()
            status = await _post(http, url, bodies[i])
            done = time.perf_counter()
            latencies.append((done - scheduled) * 1000)
            from_send.append((done - sent) * 1000)
            statuses[status] = statuses.get(status, 0) + 1

        running: set[asyncio.Task[None]] = set()
        start = time.perf_counter()
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(i, scheduled))
            running.add(task)
            task.add_done_callback(running.discard)
        while running:
            await asyncio.gather(*list(running))
        elapsed = time.perf_counter() - start
    latencies.sort()
    from_send.sort()

    def pct(values: list[float], p: float) -> float:
        return round(values[min(len(values) - 1, int(p / 100 * len(values)))], 2)

    return {"rate_target": rate, "alerts": total, "achieved_rate": round(total / elapsed, 1),
            "statuses": statuses, "p50_ms": pct(latencies, 50), "p90_ms": pct(latencies, 90),
            "p99_ms": pct(latencies, 99), "max_ms": round(latencies[-1], 2),
            "mean_ms": round(statistics.fmean(latencies), 2),
            "from_send_p50_ms": pct(from_send, 50), "from_send_p99_ms": pct(from_send, 99)}


async def _with_database(fn: Any) -> Any:
    from shared_data import migrate
    from shared_data.db import create_database, drop_database

    settings = load_settings()
    embedded = None
    if settings.database_url is not None:
        server_url = settings.database_url.get_secret_value()
    else:
        from shared_data.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="bt-bench-pg-")))
        server_url = embedded.start()
    name = f"bt_bench_{uuid.uuid4().hex[:10]}"
    db_url = await create_database(server_url, name)
    try:
        await migrate.upgrade(db_url)
        return await fn(db_url)
    finally:
        await drop_database(server_url, name)
        if embedded is not None:
            embedded.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async def measure(db_url: str) -> dict[str, Any]:
        parent, child = mp.get_context("spawn").Pipe()
        proc = mp.get_context("spawn").Process(target=_serve, args=(db_url, SECRET, child), daemon=True)
        proc.start()
        try:
            loop = asyncio.get_running_loop()
            port = await loop.run_in_executor(None, parent.recv)
            url = f"http://127.0.0.1:{port}/webhook"

            async def server_cpu_s() -> float:
                parent.send("cpu")
                return float(await loop.run_in_executor(None, parent.recv))

            async def inbox_stats() -> dict[str, Any]:
                parent.send("inbox")
                return dict(await loop.run_in_executor(None, parent.recv))

            await warm_up(url)
            await inbox_stats()
            # The load generator's own collector pauses would show up as server latency; the server's are kept.
            gc.collect()
            gc.freeze()
            cpu0, client0 = await server_cpu_s(), time.process_time()
            burst = await throughput(url, args.alerts, args.concurrency)
            cpu1, client1 = await server_cpu_s(), time.process_time()
            burst["db_batches"] = await inbox_stats()
            paced = await steady(url, args.rate, args.seconds)
            cpu2, client2 = await server_cpu_s(), time.process_time()
            paced["db_batches"] = await inbox_stats()
            # CPU per alert of the server process and of this client: on a shared machine these say
            # what the rates above would be with a core each, whatever else was running.
            for fig, server_s, client_s, n in ((burst, cpu1 - cpu0, client1 - client0, args.alerts),
                                               (paced, cpu2 - cpu1, client2 - client1, paced["alerts"])):
                fig["server_cpu_ms_per_alert"] = round(server_s * 1000 / n, 3)
                fig["client_cpu_ms_per_alert"] = round(client_s * 1000 / n, 3)
        finally:
            parent.close()
            await loop.run_in_executor(None, proc.join, 10)
        return {
            "benchmark": "alerts_webhook",
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "throughput": burst,
            "steady": paced,
            "targets": {"accepted_per_s": TARGET_ALERTS_PER_S, "p99_ms": TARGET_P99_MS},
            "meets_targets": {"accepted_per_s": burst["accepted_per_s"] >= TARGET_ALERTS_PER_S,
                              "p99_ms": paced["p99_ms"] <= TARGET_P99_MS},
        }

    result: dict[str, Any] = await _with_database(measure)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
