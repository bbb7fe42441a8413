"""Run every benchmark once and write one JSON and one Markdown table (figure, target, reference).

    python main.py bench [--quick] [--only NAME …] [--out DIR]

Each benchmark is its own script printing JSON; this runs them one after another in child
processes (each with a time limit), pulls out the headline figures, and puts each next to its
target and to the reference measured in the same run (raw COPY rate, loopback round trip …).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def dig(data: Any, path: str) -> Any:
    """`a.b.0.c` → data["a"]["b"][0]["c"], None when absent."""
    for part in path.split("."):
        if isinstance(data, list):
            data = data[int(part)] if part.isdigit() and int(part) < len(data) else None
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


@dataclass(frozen=True)
class Figure:
    label: str
    path: str | Callable[[Any], Any]
    target: float | None
    higher_is_better: bool
    unit: str
    reference: str | None = None  # path of the same-run reference figure
    reference_label: str = ""
    target_fills: int | None = None  # the target holds only at this size (quick runs are smaller)

    def value(self, data: Any) -> Any:
        return self.path(data) if callable(self.path) else dig(data, self.path)

    def meets(self, value: Any, data: Any = None) -> bool | None:
        if self.target is None or not isinstance(value, int | float):
            return None
        if self.target_fills is not None and (data or {}).get("fills") != self.target_fills:
            return None  # a smaller run says nothing about a target set for the full size
        return value >= self.target if self.higher_is_better else value <= self.target


def _best_fifo_rate(data: Any) -> Any:
    runs = data.get("fifo_runs") or []
    rates = [r.get("fills_per_s") for r in runs if isinstance(r.get("fills_per_s"), int | float)]
    return max(rates) if rates else None


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    args: list[str]
    quick_args: list[str]
    timeout_s: int
    figures: list[Figure]


BENCHES = [
    Bench("ws_throughput", "ws_throughput.py", [], ["--messages", "20000"], 300, [
        Figure("WS ticker messages/s (one feed, one core)", "messages_per_s", None, True, "msg/s",
               "messages_per_cpu_s", "per client CPU-second"),
    ]),
    Bench("rest_roundtrip", "rest_roundtrip.py", [], [], 300, [
        Figure("REST round trip get_order p50 (SDK → simulator)", "get_order.p50_ms", None, False, "ms",
               "get_server_time.p50_ms", "get_server_time p50 (loopback floor)"),
        Figure("REST round trip get_order p99", "get_order.p99_ms", None, False, "ms"),
    ]),
    Bench("stop_moves", "stop_moves.py", [], ["--moves", "50"], 300, [
        Figure("Protective-stop move p50, in-place edit (decision → ack)", "edit.latency_p50_ms", None, False, "ms",
               "cancel_replace.latency_p50_ms", "cancel-and-replace p50"),
        Figure("Protective-stop move p99, in-place edit", "edit.latency_p99_ms", None, False, "ms",
               "cancel_replace.latency_p99_ms", "cancel-and-replace p99"),
        Figure("Unprotected window per move, edit (max)", "edit.unprotected_max_ms", 0, False, "ms",
               "cancel_replace.unprotected_p50_ms", "cancel-and-replace p50"),
    ]),
    Bench("fills_fifo", "fills_fifo.py", [], ["--fills", "20000"], 1200, [
        Figure("Fills recorded with real-time FIFO ({fills:,} fills)", _best_fifo_rate, 3000, True, "fills/s",
               "raw_copy_binary_fills_per_s", "raw binary COPY of the same rows"),
    ]),
    Bench("fifo_rebuild", "fifo_rebuild.py", [], ["--fills", "100000", "--skip-check"], 1800, [
        Figure("fifo rebuild of {fills:,} fills / {symbols} symbols", "rebuild_from_empty.seconds",
               30, False, "s", "raw_copy_seconds", "raw COPY of the same fills (s)", target_fills=1_000_000),
    ]),
    Bench("sentinel_sweep", "sentinel_sweep.py", [], [], 300, [
        Figure("Sentinel sweep, 1,000 positions, all re-quoted (p50)", "full_sweep_ms.p50", 5, False, "ms"),
        Figure("Sentinel sweep, 1,000 positions, steady (p99)", "steady_sweep_ms.p99", 5, False, "ms"),
    ]),
    Bench("sentinel_latency", "sentinel_latency.py", [], ["--seconds", "5"], 300, [
        Figure("Tick-to-exit-order latency p50 (200 pos, 2,000 msg/s)", "latency_ms.p50", None, False, "ms",
               "feed_send_to_receipt_ms.p50", "feed send → receipt p50"),
        Figure("Tick-to-exit-order latency p99", "latency_ms.p99", 20, False, "ms",
               "feed_send_to_receipt_ms.p99", "feed send → receipt p99"),
    ]),
    Bench("sighook_cycle", "sighook_cycle.py", [], [], 600, [
        Figure("Sighook cycle compute, 300 products × 300 candles (median)", "cycle_ms.median", 1000, False, "ms"),
    ]),
    Bench("failover", "failover.py", [], ["--kills", "3", "--cold", "1"], 900, [
        Figure("Webhook failover: leader SIGKILL → new leader's first sweep (p50)", "takeover.p50_s", 5, False, "s",
               "reference_cold_restart.p50_s", "restart without a standby (p50)"),
        Figure("Webhook failover (max over the kills)", "takeover.max_s", 5, False, "s"),
    ]),
    Bench("alerts", "alerts_bench.py", [], ["--alerts", "2000", "--seconds", "5"], 600, [
        Figure("Alerts accepted with durable insert", "throughput.accepted_per_s", 1500, True, "alerts/s"),
        Figure("Alert latency p99 at 500 alerts/s", "steady.p99_ms", 50, False, "ms",
               "steady.p50_ms", "p50 at the same rate"),
    ]),
    # Target: Freqtrade 2026.9's backtester, ~16,700 candle-steps/s for one pair (issue #22).
    Bench("replay_throughput", "replay_throughput.py", [], ["--candles", "5000", "--candles-many", "1000"], 1800, [
        Figure("Replay candles/s, 1 product (daemon code, loop only)", "one_product.replay_loop_candles_per_s",
               16_700, True, "candles/s", "one_product.floor_read_candles_per_s", "reading the candles alone"),
        Figure("Replay candles/s, 20 products (loop only)", "many_products.replay_loop_candles_per_s", None, True,
               "candles/s", "many_products.floor_read_candles_per_s", "reading the candles alone"),
    ]),
]


def run_bench(bench: Bench, quick: bool, say: Callable[[str], None]) -> dict[str, Any]:
    cmd = [sys.executable, str(ROOT / "bench" / bench.script), *(bench.quick_args if quick else bench.args)]
    say(f"[bench] {bench.name}: {' '.join(cmd[2:]) or '(defaults)'} …")
    started = time.monotonic()
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=bench.timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {bench.timeout_s}s"}
    elapsed = round(time.monotonic() - started, 1)
    out = proc.stdout.strip()
    start = out.find("{")
    try:
        data: dict[str, Any] = json.loads(out[start:]) if start >= 0 else {}
    except ValueError:
        data = {}
    if proc.returncode != 0 or not data:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-600:]}", "seconds": elapsed}
    say(f"[bench] {bench.name}: done in {elapsed}s")
    data["_wall_seconds"] = elapsed
    return data


def build_report(raw: dict[str, dict[str, Any]], quick: bool) -> dict[str, Any]:
    rows = []
    for bench in BENCHES:
        data = raw.get(bench.name)
        if data is None:
            continue
        for fig in bench.figures:
            value = None if "error" in data else fig.value(data)
            try:
                label = fig.label.format(**data)
            except (KeyError, ValueError, IndexError):
                label = fig.label
            rows.append({
                "bench": bench.name, "figure": label, "value": value, "unit": fig.unit, "target": fig.target,
                "target_op": ">=" if fig.higher_is_better else "<=", "meets_target": fig.meets(value, data),
                "reference": dig(data, fig.reference) if fig.reference else None,
                "reference_label": fig.reference_label, "error": data.get("error"),
            })
    return {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "quick": quick,
            "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": sys.version.split()[0]},
            "figures": rows, "raw": raw}


def markdown(report: dict[str, Any]) -> str:
    lines = [f"Benchmarks, {report['generated_at']} ({'quick' if report['quick'] else 'full'} run, "
             f"{report['machine']['cpus']} CPUs, load {report['machine']['load_average'][0]:.1f})", "",
             "| figure | value | target | meets | reference (same run) |", "|---|---|---|---|---|"]
    for r in report["figures"]:
        value = "error" if r["error"] else f"{_num(r['value'])} {r['unit']}"
        target = "—" if r["target"] is None else f"{r['target_op']} {_num(r['target'])} {r['unit']}"
        meets = {True: "yes", False: "**no**", None: "—"}[r["meets_target"]]
        ref = "—" if r["reference"] is None else f"{_num(r['reference'])} ({r['reference_label']})"
        lines.append(f"| {r['figure']} | {value} | {target} | {meets} | {ref} |")
    return "\n".join(lines) + "\n"


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: Any) -> None:
    parser.add_argument("--quick", action="store_true", help="smaller sizes (minutes, not tens of minutes)")
    parser.add_argument("--only", nargs="*", default=None, help="run only these benchmarks")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where report.json and report.md go")


def run(args: Any) -> int:
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    raw: dict[str, dict[str, Any]] = {}
    for bench in BENCHES:
        if args.only and bench.name not in args.only:
            continue
        raw[bench.name] = run_bench(bench, args.quick, say)
    report = build_report(raw, args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (args.out / "report.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
