"""The diagnose report: per-symbol figures and the checks, as text for people and JSON for scripts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diagnostics.activity import SymbolActivity
from diagnostics.checks import CheckResult
from diagnostics.watch import Watch

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INCOMPLETE = 3  # some check could not run: never reported as a pass


@dataclass(frozen=True)
class DiagnoseReport:
    duration_s: float
    watch: Watch
    activity: dict[str, SymbolActivity]
    checks: list[CheckResult]
    protection_enabled: bool

    @property
    def exit_code(self) -> int:
        if any(not c.passed and c.skipped is None for c in self.checks):
            return EXIT_FAILED
        if any(c.skipped is not None for c in self.checks):
            return EXIT_INCOMPLETE
        return EXIT_OK

    def symbols(self) -> list[str]:
        return sorted(set(self.watch.feeds) | set(self.activity))

    def symbol_dict(self, symbol: str) -> dict[str, Any]:
        feed = self.watch.feeds.get(symbol)
        act = self.activity.get(symbol, SymbolActivity())
        lat = act.exit_latencies_s
        return {
            "symbol": symbol,
            "price_updates": feed.updates if feed else 0,
            "largest_gap_s": round(feed.largest_gap_s, 3) if feed else None,
            "activations": act.activations,
            "stop_moves_decided": act.stop_moves_decided,
            "stop_moves_acknowledged": act.stop_moves_acknowledged if self.protection_enabled else None,
            "exchange_stop_failures": len(act.exchange_failures),
            "exits_filled": act.exits_filled,
            "exits_failed": act.exits_failed,
            "exit_latency_s": {"count": len(lat), "max": round(max(lat), 3), "mean": round(sum(lat) / len(lat), 3)}
            if lat else None,
            "warnings": act.warnings,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.exit_code == EXIT_OK,
            "exit_code": self.exit_code,
            "duration_s": self.duration_s,
            "samples": self.watch.samples,
            "failed_samples": self.watch.failed_samples,
            "staleness_limit_s": self.watch.staleness_limit_s,
            "protection_enabled": self.protection_enabled,
            "symbols": [self.symbol_dict(s) for s in self.symbols()],
            "checks": [c.as_dict() for c in self.checks],
            "failed_checks": [c.name for c in self.checks if not c.passed],
        }


def render_text(report: DiagnoseReport) -> str:
    lines = [f"bottrader diagnose — watched {report.duration_s:.0f}s, {report.watch.samples} samples", ""]
    header = f"{'symbol':<12}{'updates':>8}{'max gap':>9}{'activ.':>7}{'moves':>7}{'acked':>7}{'exits':>6}  latency"
    lines.append(header)
    for symbol in report.symbols():
        d = report.symbol_dict(symbol)
        gap = "-" if d["largest_gap_s"] is None else f"{d['largest_gap_s']:.1f}s"
        acked = "-" if d["stop_moves_acknowledged"] is None else str(d["stop_moves_acknowledged"])
        lat = d["exit_latency_s"]
        latency = "-" if lat is None else f"mean {lat['mean']:.2f}s max {lat['max']:.2f}s"
        lines.append(f"{symbol:<12}{d['price_updates']:>8}{gap:>9}{d['activations']:>7}{d['stop_moves_decided']:>7}"
                     f"{acked:>7}{d['exits_filled']:>6}  {latency}")
        for warning in d["warnings"]:
            lines.append(f"    warning: {warning}")
    if not report.symbols():
        lines.append("(no symbols seen)")
    lines += ["", "checks:"]
    for c in report.checks:
        mark = "PASS" if c.passed else ("SKIP" if c.skipped else "FAIL")
        lines.append(f"  [{mark}] {c.name}" + (f" — {c.skipped}" if c.skipped else ""))
        lines += [f"         {p}" for p in c.problems]
    verdict = {EXIT_OK: "all checks passed", EXIT_FAILED: "FAILED", EXIT_INCOMPLETE: "INCOMPLETE (checks skipped)"}
    lines += ["", f"result: {verdict[report.exit_code]}"]
    return "\n".join(lines) + "\n"
