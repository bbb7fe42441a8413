"""The alert endpoint now vs. an earlier revision, measured alternately in one run. Prints JSON.

    .venv/bin/python bench/alerts_ab.py [--base 520f879] [--rounds 3] [--alerts 4000] [--seconds 8]

Issue #16 asks that accepted alerts/s and p99 latency stay within 10 % of the figures before the
normaliser. Absolute figures on a shared 2-core machine move by tens of percent from one minute to
the next, so a figure from another day is no reference: this exports `--base` with `git archive`
into a temporary folder and runs *that revision's own* `bench/alerts_bench.py` and the working
tree's, alternately, `--rounds` times each (same database server, same load generator settings),
then reports per side the median of: accepted alerts/s (burst of `--alerts` from 64 clients),
p99 latency at `--rate` alerts/s, and the server process's CPU milliseconds per alert (the
steadiest of the three under outside load). `ratio` is now ÷ base.

DATABASE_URL selects the server (unset: each run starts its own embedded one, a child of that run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def export(rev: str, into: Path) -> Path:
    """`git archive rev` unpacked into `into` (the base revision's own code and bench)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev], check=True,
                             capture_output=True, timeout=120).stdout
    tar_path = into / "base.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def one_run(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One `bench/alerts_bench.py` run of `tree`; its JSON (embedded-server log lines skipped)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "bench.alerts_bench", "--alerts", str(args.alerts), "--seconds", str(args.seconds),
           "--rate", str(args.rate)]
    out = subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True, text=True, timeout=900).stdout
    start = out.find("{\n") if not out.startswith("{") else 0
    data: dict[str, Any] = json.loads(out[start:])
    return {"accepted_per_s": data["throughput"]["accepted_per_s"], "p99_ms": data["steady"]["p99_ms"],
            "server_cpu_ms_per_alert": data["throughput"]["server_cpu_ms_per_alert"],
            "load_avg_1m": data["load_avg_1m"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="520f879", help="the revision to compare with (default: before #16)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--alerts", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "now": []}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-alerts-ab-") as tmp:
        trees = {"base": export(args.base, Path(tmp)), "now": ROOT}
        for k in range(args.rounds):
            for side in ("base", "now") if k % 2 == 0 else ("now", "base"):  # neither side always goes first
                runs[side].append(one_run(trees[side], args))
                print(f"[alerts_ab] round {k + 1}/{args.rounds} {side}: {runs[side][-1]}", file=sys.stderr)
    medians = {side: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for side, rs in runs.items()}
    ratio = {key: round(medians["now"][key] / medians["base"][key], 3) for key in
             ("accepted_per_s", "p99_ms", "server_cpu_ms_per_alert") if medians["base"][key]}
    result = {
        "benchmark": "alerts_ab", "base": args.base, "rounds": args.rounds, "medians": medians, "ratio": ratio,
        "within_10_pct": {"accepted_per_s": ratio.get("accepted_per_s", 0) >= 0.9,
                          "p99_ms": ratio.get("p99_ms", 99) <= 1.1},
        "runs": runs, "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
