"""Performance by exit reason on a scripted session whose numbers are computed by hand (see session.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from reports.performance import (
    ExitThresholds,
    GroupStats,
    PerformanceReport,
    TradeOutcome,
    build_performance_report,
)
from reports.performance_output import render_table, report_to_dict
from tests.unit.reports.session import EXPECTED_OVERALL, START, SYMBOL, TRIPS

D = Decimal
PLACES = D("1E-20")

# The defaults of the settings, spelled out so the environment cannot change them under the test.
THRESHOLDS = ExitThresholds(
    stop_loss_hard_pct=D(-5), stop_loss_soft_pct=D("-2.5"), take_profit_pct=D("6.25"),
    trailing_activation_pct=D("3.5"), trailing_min_distance_pct=D(1), trailing_max_distance_pct=D(2),
)


def session_trades() -> list[TradeOutcome]:
    trades = [
        TradeOutcome(
            sell_order_id=f"sell-{t.key}", symbol=SYMBOL, exit_reason=t.reason, exit_time=t.sell_time,
            pnl_usd=t.exit - t.sell_fee - (t.entry + t.buy_fee), fees_usd=t.buy_fee + t.sell_fee,
            cost_basis_usd=t.entry + t.buy_fee, entry_price=t.entry, exit_price=t.exit, exit_target_price=t.target,
        )
        for t in TRIPS
    ]
    orphan = TradeOutcome("sell-G", SYMBOL, "manual", START + timedelta(days=6), D("99.5"), D("0.5"),
                          D(0), None, D(100), None, missing_basis=True)
    return [*trades, orphan]


def by_label(report: PerformanceReport) -> dict[str, GroupStats]:
    return {g.label: g for g in report.by_reason}


def q(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(PLACES)


def test_overall_numbers_match_the_hand_computation() -> None:
    report = build_performance_report(session_trades(), THRESHOLDS)
    o = report.overall
    got = {k: getattr(o, k) for k in EXPECTED_OVERALL}
    assert {k: q(v) for k, v in got.items() if isinstance(v, Decimal)} == {
        k: q(v) for k, v in EXPECTED_OVERALL.items() if isinstance(v, Decimal)
    }
    assert (o.trades, o.wins, o.losses, o.breakeven) == (6, 3, 3, 0)
    assert q(o.reward_risk) == q(D("6.5") / (D(11) / 3))  # 1.7727…
    assert report.excluded_missing_basis == 1
    # Equity: +6, −7, +10.5, −3.5, +3, −0.5 → 6, −1, 9.5, 6, 9, 8.5; worst fall 6 → −1.
    assert [p.cumulative_pnl_usd for p in report.equity_curve] == [D(6), D(-1), D("9.5"), D(6), D(9), D("8.5")]
    assert [p.sell_order_id for p in report.equity_curve] == ["sell-A", "sell-C", "sell-B", "sell-D", "sell-E",
                                                              "sell-F"]
    assert report.max_drawdown_usd == D(7)


def test_per_reason_numbers_and_thresholds_beside_them() -> None:
    groups = by_label(build_performance_report(session_trades(), THRESHOLDS))
    assert list(groups) == ["hard_stop", "soft_stop", "take_profit", "signal", "trailing_stop"]
    tp = groups["take_profit"]
    assert (tp.trades, tp.wins, tp.losses, tp.win_rate) == (2, 2, 0, D(1))
    assert (tp.avg_win, tp.avg_loss, tp.reward_risk) == (D("8.25"), None, None)
    assert (tp.total_pnl, tp.expectancy, tp.fees_paid) == (D("16.5"), D("8.25"), D(3))
    assert tp.avg_move_pct == D("6.625")  # (7% + 6.25%) / 2, beside take_profit_pct = 6.25
    assert (tp.min_move_pct, tp.max_move_pct) == (D("6.25"), D(7))
    assert tp.configured == (("take_profit_pct", D("6.25")),)
    # A filled at 107 against a 106.25 target: +0.70588…%; B exactly at target: 0.
    assert q(tp.avg_slippage_pct) == q((D(107) - D("106.25")) / D("106.25") * 100 / 2)

    hard = groups["hard_stop"]
    assert (hard.trades, hard.win_rate, hard.avg_loss, hard.total_pnl) == (1, D(0), D(-7), D(-7))
    assert hard.avg_move_pct == D(-6)  # fired 1 point past the −5% configured
    assert hard.configured == (("stop_loss_hard_pct", D(-5)),)
    assert q(hard.avg_slippage_pct) == q(D(-1) / D(95) * 100)
    assert q(hard.avg_return_pct) == q(D(-7) / D("100.5") * 100)

    soft = groups["soft_stop"]
    assert (soft.avg_move_pct, soft.total_pnl, soft.configured) == (D("-2.5"), D("-3.5"),
                                                                   (("stop_loss_soft_pct", D("-2.5")),))
    trail = groups["trailing_stop"]
    assert (trail.avg_move_pct, trail.total_pnl) == (D(4), D(3))
    assert dict(trail.configured)["trailing_activation_pct"] == D("3.5")
    sig = groups["signal"]
    assert (sig.losses, sig.avg_loss, sig.avg_move_pct, sig.avg_slippage_pct) == (1, D("-0.5"), D("0.5"), None)


def test_since_filters_by_exit_time() -> None:
    report = build_performance_report(session_trades(), THRESHOLDS, since=START + timedelta(days=3))
    assert [p.sell_order_id for p in report.equity_curve] == ["sell-D", "sell-E", "sell-F"]
    assert report.overall.total_pnl == D("-1") and report.excluded_missing_basis == 1


def test_empty_session() -> None:
    report = build_performance_report([], THRESHOLDS)
    assert report.overall.trades == 0 and report.overall.win_rate is None and report.by_reason == ()
    assert report.max_drawdown_usd == 0


def test_json_and_table_output() -> None:
    report = build_performance_report(session_trades(), THRESHOLDS)
    data = json.loads(json.dumps(report_to_dict(report)))
    assert data["overall"]["win_rate"] == "0.5000"
    assert data["overall"]["avg_loss_usd"] == "-3.67"
    assert data["overall"]["reward_risk"] == "1.7727"
    assert data["overall"]["expectancy_usd"] == "1.42"
    tp = next(g for g in data["by_exit_reason"] if g["label"] == "take_profit")
    assert tp["realized"]["avg_move_pct"] == "6.63" and tp["configured"] == {"take_profit_pct": "6.25"}
    assert data["equity_curve"][-1]["cumulative_pnl_usd"] == "8.50"
    table = render_table(report)
    assert "take_profit" in table and "take_profit_pct=6.25" in table and "50.00%" in table
    assert "1 sell(s) with missing cost basis" in table


def test_configured_thresholds_are_compared_on_the_exit_pnl_basis() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal as Dec

    from reports.performance import ExitThresholds, TradeOutcome, build_performance_report

    t = TradeOutcome("s1", "ETH-USD", "take_profit", datetime(2026, 1, 2, tzinfo=UTC), pnl_usd=Dec("4.60"),
                     fees_usd=Dec("2.60"), cost_basis_usd=Dec("100.60"), entry_price=Dec("100"),
                     exit_price=Dec("106.25"))
    base = dict(stop_loss_hard_pct=Dec("-5"), stop_loss_soft_pct=Dec("-2.5"), take_profit_pct=Dec("6.25"),
                trailing_activation_pct=Dec("3.5"), trailing_min_distance_pct=Dec("1"),
                trailing_max_distance_pct=Dec("2"))
    on_price = build_performance_report([t], ExitThresholds(**base, pnl_basis="price")).by_reason[0]
    on_net = build_performance_report([t], ExitThresholds(**base, pnl_basis="net")).by_reason[0]
    assert on_price.avg_on_basis_pct == Dec("6.25")  # the price move
    assert on_net.avg_on_basis_pct == t.return_pct and on_net.avg_on_basis_pct < 5  # fees eat the rest
