"""The replay report on disk: report.json (canonical, deterministic), report.md and report.html.

The HTML page is self-contained: inline CSS and two inline SVG charts (mark-to-market equity curve,
exits by reason) — no scripts, fonts or images from anywhere.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from replay.run import ReplayOutcome

REASON_COLOURS = {"hard_stop": "#b22222", "soft_stop": "#e9804d", "take_profit": "#2e8b57", "signal": "#4682b4",
                  "trailing_stop": "#8a63d2", "protective_stop": "#6b5b95", "alert": "#888888", "manual": "#aaaaaa"}


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def write_reports(outcome: ReplayOutcome, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    report = outcome.report
    paths = {"json": out_dir / "report.json", "markdown": out_dir / "report.md", "html": out_dir / "report.html"}
    run = {"seconds": round(outcome.seconds, 2), "candles": outcome.dataset.candles,
           "candles_per_s": round(outcome.dataset.candles / outcome.seconds) if outcome.seconds > 0 else None,
           "database_url": outcome.database_url}
    paths["json"].write_text(report_json(report), encoding="utf-8")
    paths["markdown"].write_text(markdown(report, run), encoding="utf-8")
    paths["html"].write_text(html_page(report, run), encoding="utf-8")
    return paths


# ---- Markdown ------------------------------------------------------------------------------------

def _reason_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for g in report["performance"]["by_exit_reason"]:
        r = g["realized"]
        configured = ", ".join(f"{k} {v}" for k, v in g["configured"].items()) or "—"
        rows.append([g["label"], str(g["trades"]), _s(g["win_rate"]), _s(g["total_pnl_usd"]), _s(g["fees_paid_usd"]),
                     configured, _s(r["avg_move_pct"]), f"{_s(r['min_move_pct'])} … {_s(r['max_move_pct'])}",
                     _s(r["avg_slippage_vs_target_pct"]), _s(g["reward_risk"])])
    return rows


REASON_HEAD = ["exit reason", "trades", "win rate", "P&L USD", "fees USD", "configured threshold (%)",
               "avg move %", "move range %", "avg slippage vs target %", "reward:risk"]


def _s(value: Any) -> str:
    return "—" if value is None else str(value)


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _summary_rows(report: dict[str, Any]) -> list[list[str]]:
    s = report["summary"]
    return [["trades", _s(s["trades"])], ["win rate", _s(s["win_rate"])],
            ["realized P&L (USD)", _s(s["realized_pnl_usd"])], ["fees (USD)", _s(s["fees_usd"])],
            ["equity start → end (USD)", f"{s['initial_equity_usd']} → {s['final_equity_usd']}"],
            ["return (%)", _s(s["return_pct"])],
            ["max drawdown, mark to market (USD)", _s(s["max_drawdown_mark_to_market_usd"])],
            ["max drawdown, realized (USD)", _s(s["max_drawdown_realized_usd"])],
            ["exposure (% of time holding)", _s(s["exposure_pct"])],
            ["entries / buy signals", f"{s['entries']} / {s['buy_signals']}"],
            ["buy signals skipped", ", ".join(f"{k} {v}" for k, v in s["entry_signals_skipped"].items()) or "—"],
            ["open at the end", ", ".join(p["symbol"] for p in s["open_positions_at_end"]) or "—"],
            ["breakers tripped", ", ".join(f"{b['breaker']} at {b['at']}" for b in s["breakers_tripped"]) or "—"]]


def _execution_lines(report: dict[str, Any]) -> tuple[str, list[list[str]], list[list[str]]]:
    """The styles used (one line), fills by side and liquidity, working orders by how they ended."""
    x = report["execution"]
    entries = ", ".join(f"{source} {kind}" for source, kind in x["entry_order_type"].items())
    styles = (f"Entries: {entries}. Exits: {x['exit_order_style']} (the hard stop is always market). "
              f"Desk polled every {x['desk_poll_interval_s']} s of virtual time.")
    fills = [[f["side"], _s(f["liquidity"]), str(f["orders"]), str(f["fills"]), _s(f["fees_usd"])] for f in x["fills"]]
    working = [[w["purpose"], w["state"], str(w["count"]), str(w["reprices"]), str(w["post_only_rejections"]),
                str(w["escalated"])] for w in x["working_orders"]]
    return styles, fills, working


FILL_HEAD = ["side", "liquidity", "orders", "fills", "fees USD"]
WORKING_HEAD = ["working order", "ended", "count", "re-prices", "post-only rejections", "escalated"]


def markdown(report: dict[str, Any], run: dict[str, Any]) -> str:
    period = report["period"]
    styles, fills, working = _execution_lines(report)
    parts = [
        "# Replay report", "",
        f"Database `{report['database']}` · {period['candles']} candles of {', '.join(period['products'])} · "
        f"{period['start']} → {period['end']}", "",
        f"Run: {run['seconds']} s, {run['candles_per_s']} candles/s (not in report.json: it must be deterministic).",
        "", "## Summary", "", _md_table(["", ""], _summary_rows(report)), "",
        "## Exits by reason: configured threshold vs realized move and slippage", "",
        _md_table(REASON_HEAD, _reason_rows(report)), "",
        "Move = exit price vs entry price (fees excluded); slippage = exit fill vs the sentinel's target price "
        "(negative is worse for a sell). These are the numbers of `python main.py report performance`.", "",
        "## Execution", "", styles, "", _md_table(FILL_HEAD, fills), "", _md_table(WORKING_HEAD, working), "",
        report["execution"]["note"], "",
        "## Intrabar assumption", "", report["intrabar"]["assumption"], "",
        f"Candles with 1-minute detail: {report['intrabar']['detailed_candles']}.", "",
        "## Settings", "", _md_table(["setting", "value"], [[k.upper(), _s(v)] for k, v in report["settings"].items()]),
        "", f"Overrides (--set): {report['overrides'] or 'none'}", "",
        "## Data fingerprint", "", "```json", json.dumps(report["data"], indent=2), "```", "",
        "## Trades", "",
        _md_table(["exit time", "symbol", "reason", "entry", "exit", "target", "move %", "slippage %", "P&L USD",
                   "fees USD"],
                  [[t["exit_time"], t["symbol"], t["exit_reason"], _s(t["entry_price"]), _s(t["exit_price"]),
                    _s(t["target_price"]), _s(t["move_pct"]), _s(t["slippage_vs_target_pct"]), _s(t["pnl_usd"]),
                    _s(t["fees_usd"])] for t in report["trades"]]),
        "",
    ]
    return "\n".join(parts)


# ---- HTML ----------------------------------------------------------------------------------------

def _equity_svg(curve: list[list[str]], width: int = 900, height: int = 260) -> str:
    if len(curve) < 2:
        return "<p>(no equity samples)</p>"
    values = [float(v) for _, v in curve]
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    pad = 40
    xs = [pad + (width - 2 * pad) * i / (len(values) - 1) for i in range(len(values))]
    ys = [height - pad - (height - 2 * pad) * (v - lo) / span for v in values]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    e = html.escape
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="equity curve">'
            f'<rect width="{width}" height="{height}" fill="#fff"/>'
            f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#999"/>'
            f'<polyline fill="none" stroke="#2b6cb0" stroke-width="1.5" points="{points}"/>'
            f'<text x="{pad}" y="{pad - 8}" font-size="12">{e(f"{hi:,.2f}")} USD</text>'
            f'<text x="{pad}" y="{height - pad + 16}" font-size="12">{e(f"{lo:,.2f}")} USD</text>'
            f'<text x="{pad}" y="{height - 6}" font-size="11">{e(curve[0][0])}</text>'
            f'<text x="{width - pad}" y="{height - 6}" font-size="11" text-anchor="end">{e(curve[-1][0])}</text>'
            "</svg>")


def _reasons_svg(groups: list[dict[str, Any]], width: int = 900) -> str:
    if not groups:
        return "<p>(no exits)</p>"
    bar_h, gap, label_w = 22, 8, 130
    height = len(groups) * (bar_h + gap) + 30
    most = max(g["trades"] for g in groups) or 1
    pnl_max = max(abs(float(g["total_pnl_usd"] or 0)) for g in groups) or 1.0
    half = (width - label_w - 40) // 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="exits by reason"><rect width="{width}" height="{height}" fill="#fff"/>',
             f'<text x="{label_w}" y="14" font-size="12">trades</text>',
             f'<text x="{label_w + half + 20}" y="14" font-size="12">P&amp;L USD (left of the line: loss)</text>']
    for i, g in enumerate(groups):
        y = 24 + i * (bar_h + gap)
        colour = REASON_COLOURS.get(g["label"], "#555")
        w = (half - 10) * g["trades"] / most
        pnl = float(g["total_pnl_usd"] or 0)
        pw = (half / 2 - 70) * abs(pnl) / pnl_max  # room for the label beside the longest bar
        mid = label_w + half + 20 + half / 2
        px = mid if pnl >= 0 else mid - pw
        parts += [f'<text x="{label_w - 8}" y="{y + 15}" font-size="12" text-anchor="end">'
                  f'{html.escape(g["label"])}</text>',
                  f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>',
                  f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12">{g["trades"]}</text>',
                  f'<line x1="{mid}" y1="{y - 2}" x2="{mid}" y2="{y + bar_h + 2}" stroke="#999"/>',
                  f'<rect x="{px:.1f}" y="{y}" width="{pw:.1f}" height="{bar_h}" fill="{colour}" opacity="0.7"/>',
                  f'<text x="{mid + (pw + 4 if pnl >= 0 else -pw - 4):.1f}" y="{y + 15}" font-size="12" '
                  f'text-anchor="{"start" if pnl >= 0 else "end"}">{html.escape(str(g["total_pnl_usd"]))}</text>']
    parts.append("</svg>")
    return "".join(parts)


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    out = ["<table><thead><tr>", *(f"<th>{e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}h2{margin-top:28px}
pre{background:#f7f7f7;padding:8px;font-size:12px;overflow:auto}"""


def html_page(report: dict[str, Any], run: dict[str, Any]) -> str:
    e = html.escape
    period = report["period"]
    trades = report["trades"]
    shown = trades[-500:]
    styles, fills, working = _execution_lines(report)
    body = [
        f"<h1>Replay report</h1><p>Database <code>{e(report['database'])}</code> · {period['candles']} candles of "
        f"{e(', '.join(period['products']))} · {e(period['start'])} → {e(period['end'])}<br>"
        f"Run: {run['seconds']} s, {run['candles_per_s']} candles/s</p>",
        "<h2>Summary</h2>", _html_table(["", ""], _summary_rows(report)),
        "<h2>Equity (mark to market)</h2>", _equity_svg(report["equity_curve"]),
        "<h2>Exits by reason</h2>", _reasons_svg(report["performance"]["by_exit_reason"]),
        "<h3>Configured threshold vs realized move and slippage</h3>", _html_table(REASON_HEAD, _reason_rows(report)),
        "<p>Move = exit price vs entry price (fees excluded); slippage = exit fill vs the sentinel's target price "
        "(negative is worse for a sell).</p>",
        "<h2>Execution</h2>", f"<p>{e(styles)}</p>", _html_table(FILL_HEAD, fills), _html_table(WORKING_HEAD, working),
        f"<p>{e(report['execution']['note'])}</p>",
        "<h2>Intrabar assumption</h2>", f"<p>{e(report['intrabar']['assumption'])}</p>",
        "<h2>Settings</h2>", _html_table(["setting", "value"], [[k.upper(), _s(v)] for k, v in
                                                             report["settings"].items()]),
        f"<p>Overrides: {e(str(report['overrides'] or 'none'))}</p>",
        "<h2>Data fingerprint</h2>", f"<pre>{e(json.dumps(report['data'], indent=2))}</pre>",
        f"<h2>Trades ({len(trades)}{', last 500 shown' if len(trades) > 500 else ''})</h2>",
        _html_table(["exit time", "symbol", "reason", "entry", "exit", "target", "move %", "slippage %", "P&L USD",
                     "fees USD"],
                    [[t["exit_time"], t["symbol"], t["exit_reason"], _s(t["entry_price"]), _s(t["exit_price"]),
                      _s(t["target_price"]), _s(t["move_pct"]), _s(t["slippage_vs_target_pct"]), _s(t["pnl_usd"]),
                      _s(t["fees_usd"])] for t in shown]),
    ]
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Replay report</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
