"""Performance report output: a JSON-ready dict and a terminal table."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.clock import format_rfc3339
from core.money import fmt
from reports.performance import GroupStats, PerformanceReport

MONEY = Decimal("0.01")
PCT = Decimal("0.01")
RATIO = Decimal("0.0001")


def _q(value: Decimal | None, step: Decimal) -> str | None:
    """Fixed places (money "3.00", ratios "0.5000"); never "-0.00"."""
    if value is None:
        return None
    rounded = value.quantize(step, rounding=ROUND_HALF_UP)
    return str(rounded if rounded else abs(rounded))


def group_to_dict(g: GroupStats) -> dict[str, Any]:
    return {
        "label": g.label,
        "trades": g.trades,
        "wins": g.wins,
        "losses": g.losses,
        "breakeven": g.breakeven,
        "win_rate": _q(g.win_rate, RATIO),
        "avg_win_usd": _q(g.avg_win, MONEY),
        "avg_loss_usd": _q(g.avg_loss, MONEY),
        "reward_risk": _q(g.reward_risk, RATIO),
        "expectancy_usd": _q(g.expectancy, MONEY),
        "total_pnl_usd": _q(g.total_pnl, MONEY),
        "fees_paid_usd": _q(g.fees_paid, MONEY),
        "realized": {
            "avg_move_pct": _q(g.avg_move_pct, PCT),
            "min_move_pct": _q(g.min_move_pct, PCT),
            "max_move_pct": _q(g.max_move_pct, PCT),
            "avg_return_pct": _q(g.avg_return_pct, PCT),
            "avg_slippage_vs_target_pct": _q(g.avg_slippage_pct, PCT),
            "pnl_basis": g.pnl_basis,
            "avg_on_basis_pct": _q(g.avg_on_basis_pct, PCT),
        },
        "configured": {name: fmt(value) for name, value in g.configured},
    }


def report_to_dict(report: PerformanceReport) -> dict[str, Any]:
    """Numbers as decimal strings rounded for reading: money and percentages to 2 places, ratios to 4."""
    return {
        "since": format_rfc3339(report.since) if report.since else None,
        "overall": group_to_dict(report.overall),
        "by_exit_reason": [group_to_dict(g) for g in report.by_reason],
        "max_drawdown_usd": _q(report.max_drawdown_usd, MONEY),
        "excluded_missing_basis_trades": report.excluded_missing_basis,
        "equity_curve": [
            {
                "time": format_rfc3339(p.time),
                "sell_order_id": p.sell_order_id,
                "pnl_usd": _q(p.pnl_usd, MONEY),
                "cumulative_pnl_usd": _q(p.cumulative_pnl_usd, MONEY),
            }
            for p in report.equity_curve
        ],
    }


def _cell(value: Decimal | None, step: Decimal, suffix: str = "") -> str:
    return "-" if value is None else f"{value.quantize(step, rounding=ROUND_HALF_UP)}{suffix}"


def render_table(report: PerformanceReport) -> str:
    head = (
        f"{'exit reason':<16}{'trades':>7}{'win rate':>10}{'avg win':>12}{'avg loss':>12}{'R:R':>8}"
        f"{'expectancy':>12}{'total P&L':>13}{'fees':>11}{'avg move':>10}{'on basis':>10}  configured"
    )
    lines = ["Performance by exit reason" + (f" since {format_rfc3339(report.since)}" if report.since else ""), head]
    for g in (*report.by_reason, report.overall):
        win_rate = None if g.win_rate is None else g.win_rate * 100
        configured = ", ".join(f"{name}={fmt(value)}" for name, value in g.configured) or "-"
        if g is report.overall:
            lines.append("-" * len(head))
            configured = ""
        lines.append(
            f"{g.label:<16}{g.trades:>7}{_cell(win_rate, PCT, '%'):>10}{_cell(g.avg_win, MONEY):>12}"
            f"{_cell(g.avg_loss, MONEY):>12}{_cell(g.reward_risk, PCT):>8}{_cell(g.expectancy, MONEY):>12}"
            f"{_cell(g.total_pnl, MONEY):>13}{_cell(g.fees_paid, MONEY):>11}{_cell(g.avg_move_pct, PCT, '%'):>10}"
            f"{_cell(g.avg_on_basis_pct, PCT, '%'):>10}  {configured}"
        )
    basis = report.overall.pnl_basis
    meaning = "P&L over cost basis, fees in" if basis == "net" else "price move"
    lines.append(f"'on basis': the realized figure the configured thresholds are measured on "
                 f"(EXIT_PNL_BASIS={basis}: {meaning}).")
    lines.append(f"max drawdown: {_cell(report.max_drawdown_usd, MONEY)} USD; equity points: "
                 f"{len(report.equity_curve)} (use --json for the curve)")
    if report.excluded_missing_basis:
        lines.append(
            f"WARNING: {report.excluded_missing_basis} sell(s) with missing cost basis were left out "
            "(their $0-basis P&L says nothing about the strategy)."
        )
    return "\n".join(lines) + "\n"
