"""Tick-to-exit-order latency of the exit sentinel (target p99 ≤ 20 ms). Prints JSON.

    .venv/bin/python bench/sentinel_latency.py [--positions 200] [--rate 2000] [--seconds 10]

Three processes on 127.0.0.1:
- feed: a `websockets` server sending Coinbase-shaped `ticker` frames, `--rate` per second over
  `--positions` products; every `--cross-every`-th frame carries a price below the hard stop (each
  crossing price is unique, so it identifies its frame);
- sentinel (this process): a websockets client → ticker_frames parser → MarketCache →
  PositionMonitor (200 open positions) → an ExitExecutor that POSTs the exit order over HTTP;
- sink: an aiohttp server that stamps each exit order's arrival.
Latency = arrival of the exit order's HTTP request at the sink − receipt of the crossing frame by
the sentinel's client, both on CLOCK_MONOTONIC (shared by all processes on Linux). For context it
also reports how long frames waited between the feed's send and the client's receipt (a client that
falls behind the feed would show it there, not in the tick-to-order figure). The first second
is warm-up (connection set-up) and is not counted. After each exit the executor reports it filled,
so the same position can exit again on its next crossing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HOST = "127.0.0.1"
TARGET_P99_MS = 20.0
BATCH_S = 0.005  # the feed sends a burst every 5 ms
WARMUP_S = 1.0


# ---- feed process -----------------------------------------------------------------------------
def run_feed(port_pipe: Any, symbols: list[str], rate: int, seconds: float, cross_every: int, seed: int) -> None:
    import websockets

    async def serve() -> None:
        done = asyncio.Event()

        async def handler(ws: Any) -> None:
            await ws.recv()  # the subscribe message
            rng = random.Random(seed)
            per_batch = max(1, round(rate * BATCH_S))
            total = int(rate * seconds)
            sent = crossings = 0
            start = time.monotonic()
            next_at = start
            while sent < total:
                for _ in range(per_batch):
                    symbol = symbols[sent % len(symbols)]
                    if sent % cross_every == cross_every - 1:
                        crossings += 1
                        symbol = symbols[(crossings * 37) % len(symbols)]  # crossings visit every product
                        price = Decimal("94") - Decimal(crossings) / Decimal(10_000)  # −6 %: hard stop, unique
                    else:
                        price = Decimal(99) + Decimal(rng.randrange(0, 200)) / 100  # 99.00 … 100.99
                    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    await ws.send(json.dumps({
                        "channel": "ticker", "client_id": "", "timestamp": stamp, "sequence_num": sent,
                        "bench_sent_ns": time.monotonic_ns(),  # extra field: parsers ignore unknown keys
                        "events": [{"type": "update", "tickers": [{
                            "type": "ticker", "product_id": symbol, "price": str(price),
                            "volume_24_h": "1000", "low_24_h": "90", "high_24_h": "110",
                            "price_percent_chg_24_h": "0", "best_bid": str(price), "best_bid_quantity": "5",
                            "best_ask": str(price + Decimal("0.01")), "best_ask_quantity": "5"}]}]}))
                    sent += 1
                next_at += BATCH_S
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            elapsed = time.monotonic() - start
            await ws.send(json.dumps({"channel": "bench_done", "sent": sent, "crossings": crossings,
                                      "seconds": elapsed}))
            done.set()

        async with websockets.serve(handler, HOST, 0, max_queue=None) as server:
            port_pipe.send(next(iter(server.sockets)).getsockname()[1])
            await done.wait()
            await asyncio.sleep(0.5)

    asyncio.run(serve())


# ---- sink process -----------------------------------------------------------------------------
def run_sink(port_pipe: Any) -> None:
    from aiohttp import web

    arrivals: list[dict[str, Any]] = []
    finished = asyncio.Event()

    async def order(request: web.Request) -> web.Response:
        arrived = time.monotonic_ns()
        body = await request.json()
        arrivals.append({"symbol": body["symbol"], "quote": body["quote_price"], "ns": arrived})
        return web.json_response({"success": True, "order_id": f"o{len(arrivals)}"})

    async def results(_request: web.Request) -> web.Response:
        finished.set()
        return web.json_response(arrivals)

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/api/v3/brokerage/orders", order)
        app.router.add_get("/results", results)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        port_pipe.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await finished.wait()
        await asyncio.sleep(0.2)
        await runner.cleanup()

    asyncio.run(serve())


# ---- sentinel process (this one) --------------------------------------------------------------
@dataclass(frozen=True)
class Pos:
    symbol: str
    size: Decimal
    avg_entry_price: Decimal
    opened_at: datetime | None = None


class Book:
    def __init__(self, positions: list[Pos]) -> None:
        self.items = positions

    def open_positions(self) -> Sequence[Pos]:
        return self.items


class Matrix:
    def __init__(self, symbols: list[str]) -> None:
        now = datetime.now(UTC)
        from market_data.ports import SignalView

        self.views = {s: SignalView(sell=False, atr=Decimal("0.8"), as_of=now) for s in symbols}

    def signal(self, symbol: str) -> Any:
        return self.views.get(symbol)


class HttpExecutor:
    """Places the exit as an HTTP POST (what the real executor's REST call looks like on the wire)."""

    def __init__(self, session: Any, url: str) -> None:
        self._session = session
        self._url = url
        self.monitor: Any = None
        self.failures = 0

    async def submit_exit(self, position: Any, decision: Any) -> Any:
        from market_data.ports import ExitSubmission

        payload = {"symbol": position.symbol, "quote_price": str(decision.quote_price),
                   "reason": decision.reason.value, "side": "SELL", "base_size": str(position.size)}
        try:
            async with self._session.post(self._url, json=payload) as response:
                body = await response.json()
        except Exception as exc:
            self.failures += 1
            return ExitSubmission(ok=False, error=repr(exc))
        # The simulated fill: the position stays open so it can exit again on its next crossing.
        asyncio.get_running_loop().call_soon(lambda: self.monitor.exit_finished(position.symbol, filled=True))
        return ExitSubmission(ok=True, order_id=body.get("order_id"))


class Quiet:
    async def notify(self, topic: str, message: str) -> None:
        return None


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def _busy_simulator(mode: str, stop: asyncio.Event) -> dict[str, Any]:
    """The in-process simulator of `both` sharing the sentinel's event loop: ticking 20×/s and taking
    an order and a cancel every 20 ms, with its books in memory or durable (SQLite, simulator/store.py)."""
    import uuid

    from simulator.app import SimulatorConfig, start_simulator

    with tempfile.TemporaryDirectory() as tmp:
        sim = await start_simulator(SimulatorConfig(
            state_dir=Path(tmp), products=["BTC-USD", "ETH-USD", "SOL-USD"], tick_interval_s=0.05,
            persist=mode == "durable", history_minutes=60, initial_balances={"USD": Decimal("1000000")}))
        orders = 0
        try:
            while not stop.is_set():
                now = sim.ctx.now()
                out = sim.engine.create_order(uuid.uuid4().hex, "BTC-USD", "BUY",
                                              {"limit_limit_gtc": {"base_size": "0.001", "limit_price": "1000"}}, now)
                sim.ctx.pump()
                if out.order is not None:
                    sim.engine.cancel_orders([out.order.order_id], now)
                    sim.ctx.pump()
                orders += 1
                try:
                    await asyncio.wait_for(stop.wait(), timeout=0.02)
                except TimeoutError:
                    pass
        finally:
            await sim.stop()
        return {"mode": mode, "orders_and_cancels": orders, "ticks": sim.engine.ticks}


async def sentinel(feed_port: int, sink_port: int, symbols: list[str], log_level: str,
                   simulator: str | None = None) -> dict[str, Any]:
    import aiohttp
    import websockets

    from core.logging import configure_logging
    from core.settings import load_settings
    from market_data.market_cache import MarketCache
    from market_data.position_monitor import PositionMonitor
    from market_data.ticker_frames import parse_ticker_frame

    log_file = tempfile.NamedTemporaryFile("w", prefix="sentinel_latency_", suffix=".log", delete=False)  # noqa: SIM115
    sys.stderr = log_file  # the daemon logs its decisions; keep them off the terminal
    configure_logging(log_level, "json")
    settings = load_settings(exit_max_attempts=20)
    positions = [Pos(s, Decimal("2"), Decimal("100")) for s in symbols]
    cache = MarketCache()
    timeout = aiohttp.ClientTimeout(total=10)
    received: dict[tuple[str, str], int] = {}
    frames = parse_errors = 0
    lags_ms: list[float] = []
    summary: dict[str, Any] = {}
    sim_stop = asyncio.Event()
    sim_task = asyncio.create_task(_busy_simulator(simulator, sim_stop)) if simulator else None
    await asyncio.sleep(0.5 if simulator else 0)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=16)) as http:
        executor = HttpExecutor(http, f"http://{HOST}:{sink_port}/api/v3/brokerage/orders")
        monitor = PositionMonitor(settings, cache, Book(positions), Matrix(symbols), executor, Quiet())
        executor.monitor = monitor
        monitor.attach()
        async with websockets.connect(f"ws://{HOST}:{feed_port}", max_queue=None) as ws:
            await ws.send(json.dumps({"type": "subscribe", "product_ids": symbols, "channel": "ticker"}))
            started = time.monotonic_ns()
            async for raw in ws:
                now_ns = time.monotonic_ns()
                if '"bench_done"' in raw[:40]:
                    summary = json.loads(raw)
                    break
                frames += 1
                parsed = parse_ticker_frame(raw)
                if frames % 10 == 0:  # how far behind the feed the client reads (socket queueing)
                    lags_ms.append((now_ns - json.loads(raw)["bench_sent_ns"]) / 1e6)
                parse_errors += len(parsed.errors)
                received_at = datetime.now(UTC)
                for ticker in parsed.tickers:
                    received[(ticker.symbol, str(ticker.price))] = now_ns
                    cache.on_ticker(ticker, received_mono=now_ns / 1e9, received_at=received_at)
        await asyncio.sleep(0.5)
        await monitor.drain()
        async with http.get(f"http://{HOST}:{sink_port}/results") as response:
            arrivals = await response.json()
    sim_stop.set()
    sim_info = await sim_task if sim_task is not None else None
    log_file.close()
    latencies_ms = [(a["ns"] - received[(a["symbol"], a["quote"])]) / 1e6 for a in arrivals
                    if (a["symbol"], a["quote"]) in received
                    and received[(a["symbol"], a["quote"])] - started >= WARMUP_S * 1e9]
    result: dict[str, Any] = {
        "bench": "sentinel_latency", "positions": len(symbols),
        "frames_received": frames, "feed_seconds": round(summary.get("seconds", 0.0), 3),
        "achieved_rate_per_s": round(frames / summary["seconds"]) if summary.get("seconds") else None,
        "crossing_frames_sent": summary.get("crossings"), "exit_orders_received": len(arrivals),
        "samples_after_warmup": len(latencies_ms), "parse_errors": parse_errors,
        "executor_failures": executor.failures, "target_p99_ms": TARGET_P99_MS, "log_file": log_file.name,
        "load_average_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
        "in_loop_simulator": sim_info,
    }
    if latencies_ms:
        result["latency_ms"] = {"p50": round(percentile(latencies_ms, 50), 3),
                                "p90": round(percentile(latencies_ms, 90), 3),
                                "p99": round(percentile(latencies_ms, 99), 3),
                                "max": round(max(latencies_ms), 3), "mean": round(statistics.fmean(latencies_ms), 3)}
        result["meets_target"] = result["latency_ms"]["p99"] <= TARGET_P99_MS
    if lags_ms:
        result["feed_send_to_receipt_ms"] = {"p50": round(percentile(lags_ms, 50), 3),
                                             "p99": round(percentile(lags_ms, 99), 3),
                                             "max": round(max(lags_ms), 3)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=200)
    parser.add_argument("--rate", type=int, default=2000, help="ticker messages per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--cross-every", type=int, default=40, help="one frame in N crosses the hard stop")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--simulator", choices=["none", "memory", "durable", "compare"], default="none",
                        help="also run `both`'s in-process simulator in the sentinel's loop; compare = memory "
                        "then durable, side by side")
    args = parser.parse_args()
    if args.simulator == "compare":
        # Interleaved (memory, durable, durable, memory) so load on a shared machine hits both alike.
        runs = [(mode, _run_once(args, mode)) for mode in ("memory", "durable", "durable", "memory")]
        out: dict[str, Any] = {"bench": "sentinel_latency_with_in_process_simulator", "runs": [
            {"simulator": mode, "latency_ms": r.get("latency_ms"), "load_average_1m": r["load_average_1m"],
             "in_loop_simulator": r["in_loop_simulator"], "samples": r["samples_after_warmup"]} for mode, r in runs]}
        for pct in ("p50", "p99"):
            mem = [r["latency_ms"][pct] for m, r in runs if m == "memory" and r.get("latency_ms")]
            dur = [r["latency_ms"][pct] for m, r in runs if m == "durable" and r.get("latency_ms")]
            if mem and dur:
                out[f"durable_vs_memory_{pct}_ratio"] = round(sum(dur) / sum(mem), 3)
        print(json.dumps(out, indent=2))
        return
    print(json.dumps(_run_once(args, None if args.simulator == "none" else args.simulator), indent=2))


def _run_once(args: argparse.Namespace, simulator: str | None) -> dict[str, Any]:
    symbols = [f"P{i:03d}-USD" for i in range(args.positions)]
    ctx = mp.get_context("spawn")
    feed_rx, feed_tx = ctx.Pipe(duplex=False)
    sink_rx, sink_tx = ctx.Pipe(duplex=False)
    feed = ctx.Process(target=run_feed, args=(feed_tx, symbols, args.rate, args.seconds, args.cross_every, 11),
                       daemon=True)
    sink = ctx.Process(target=run_sink, args=(sink_tx,), daemon=True)
    feed.start()
    sink.start()
    try:
        if not (feed_rx.poll(30) and sink_rx.poll(30)):
            raise SystemExit("feed or sink did not start")
        result = asyncio.run(sentinel(feed_rx.recv(), sink_rx.recv(), symbols, args.log_level, simulator))
    finally:
        for proc in (feed, sink):
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
    result["rate_requested_per_s"] = args.rate
    return result


if __name__ == "__main__":
    main()
