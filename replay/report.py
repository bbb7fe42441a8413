"""The replay's report, as one JSON-ready dict read back from the run's database.

The per-exit-reason numbers are `report performance`'s own (reports/performance.py over
reports/queries.py), so the replay and the live report can never disagree on what a number means.
Everything in it is a function of the data, settings and seed — no wall-clock times, no run
durations — so two runs of the same replay write byte-identical JSON.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import format_rfc3339
from core.enums import OrderSource, Side
from core.money import ZERO, fmt
from core.settings import Settings
from replay.data import DataSet
from replay.driver import RunStats, utc
from replay.path import ASSUMPTION, DETAIL_NOTE
from reports.performance import ExitThresholds, build_performance_report
from reports.performance_output import report_to_dict
from reports.queries import load_trade_outcomes
from shared_data.models import Fill, RiskState, TradeRecord

if TYPE_CHECKING:
    from replay.assembly import Parts
    from replay.run import ReplayRequest

REPORT_SCHEMA = "bottrader.replay_report"
REPORT_VERSION = 1
CENT = Decimal("0.01")
PCT = Decimal("0.01")

# The settings that shape a replay's decisions (everything else is plumbing).
REPORTED_SETTINGS = (
    "stop_loss_hard_pct", "stop_loss_soft_pct", "take_profit_pct", "trailing_activation_pct",
    "trailing_atr_multiplier", "trailing_step_atr", "trailing_min_distance_pct", "trailing_max_distance_pct",
    "trailing_breakeven", "trailing_time_activation_s", "quote_max_age_s", "matrix_max_age_s", "exit_max_attempts",
    "entry_quote_size_usd", "hodl_assets", "protective_stop_enabled", "daily_loss_limit_usd", "max_position_pct",
    "max_consecutive_losses", "entry_data_max_age_s", "max_order_notional_usd", "buy_score_threshold",
    "sell_score_threshold", "sighook_interval_s", "sim_seed", "sim_initial_usd", "replay_max_gap_candles",
    "entry_order_type", "entry_order_type_sighook", "entry_order_type_tradingview", "entry_order_ttl_s",
    "entry_max_reprices", "exit_order_style", "exit_limit_offset", "exit_escalate_s", "exit_max_reprices",
    "working_poll_interval_s",
)

EXECUTION_NOTE = (
    "Entries and exits are placed as configured (the daemon's working-order desk), and the desk is polled "
    "every WORKING_POLL_INTERVAL_S of virtual time while it works an order: re-pricing, the entry TTL, exit "
    "escalation and the hard stop act on the intrabar path. The market trades only at the four points of each "
    "candle, so a resting order fills only at those points: a post-only bid fills (maker fee) when a later point "
    "trades below it, a resting sell when one trades above it; between two points nothing can fill."
)


def money(value: Decimal | None) -> str | None:
    if value is None:
        return None
    q = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return str(q if q else abs(q))


def _settings_dict(settings: Settings) -> dict[str, Any]:
    dumped = settings.model_dump(mode="json", include=set(REPORTED_SETTINGS))
    return {name: dumped[name] for name in REPORTED_SETTINGS}


async def build_report(parts: Parts, settings: Settings, request: ReplayRequest, dataset: DataSet, stats: RunStats,
                       database: str, detailed_candles: int) -> dict[str, Any]:
    async with parts.sessions() as session:
        trades = await load_trade_outcomes(session)
        sells = {r.order_id: r for r in (await session.execute(
            select(TradeRecord).where(TradeRecord.side == Side.SELL.value))).scalars()}
        buys = (await session.execute(select(TradeRecord).where(TradeRecord.side == Side.BUY.value,
                                                                TradeRecord.filled_size > 0))).scalars().all()
        breakers = (await session.execute(select(RiskState).where(RiskState.tripped.is_(True))
                                          .order_by(RiskState.breaker))).scalars().all()
        execution = await _execution(session, settings)
    perf = build_performance_report(trades, ExitThresholds.from_settings(settings))
    perf_dict = report_to_dict(perf)
    equity = stats.equity
    initial = settings.sim_initial_usd
    final = equity[-1][1] if equity else initial
    peak, mtm_drawdown = initial, ZERO
    for _, value in equity:
        peak = max(peak, value)
        mtm_drawdown = max(mtm_drawdown, peak - value)
    wins = sum(1 for t in trades if t.pnl_usd > 0)
    open_positions = parts.positions.open_positions()
    trade_rows = []
    for t in trades:
        sell = sells.get(t.sell_order_id)
        quote = sell.exit_quote_price if sell is not None else None
        trade_rows.append({
            "sell_order_id": t.sell_order_id, "symbol": t.symbol, "exit_reason": t.reason,
            "exit_time": format_rfc3339(t.exit_time),
            "entry_price": _p(t.entry_price), "exit_price": _p(t.exit_price),
            "target_price": _p(t.exit_target_price), "quote_seen": _p(quote),
            "move_pct": _pct(t.move_pct), "slippage_vs_target_pct": _pct(t.slippage_pct),
            "pnl_usd": money(t.pnl_usd), "fees_usd": money(t.fees_usd),
        })
    return {
        "schema": REPORT_SCHEMA,
        "schema_version": REPORT_VERSION,
        "database": database,
        "data": dataset.fingerprint,
        "intrabar": {
            "assumption": ASSUMPTION + (" " + DETAIL_NOTE if request.detail else ""),
            "detail_files": list(request.detail),
            "detailed_candles": detailed_candles,
        },
        "execution": execution,
        "settings": _settings_dict(settings),
        "overrides": dict(sorted(request.overrides.items())),
        "period": {"start": format_rfc3339(utc(stats.first_time)), "end": format_rfc3339(utc(stats.last_time)),
                   "candles": dataset.candles, "products": [s.product_id for s in dataset.series],
                   "price_events": stats.events - stats.cycles},
        "summary": {
            "trades": len(trades),
            "wins": wins,
            "win_rate": None if not trades else str((Decimal(wins) / len(trades)).quantize(Decimal("0.0001"))),
            "realized_pnl_usd": money(sum((t.pnl_usd for t in trades), ZERO)),
            "fees_usd": money(sum((t.fees_usd for t in trades), ZERO)),
            "entries": len(buys),
            "buy_signals": stats.buy_rows,
            "entry_alerts_sent": stats.entries_sent,
            "entry_signals_skipped": dict(sorted(stats.entries_skipped.items())),
            "entry_signals_blocked_by_dust": stats.dust_blocked,
            "ignore_dust": request.ignore_dust,
            "initial_equity_usd": money(initial),
            "final_equity_usd": money(final),
            "return_pct": _pct((final - initial) / initial * 100 if initial else None),
            "max_drawdown_realized_usd": perf_dict["max_drawdown_usd"],
            "max_drawdown_mark_to_market_usd": money(mtm_drawdown),
            "exposure_pct": _pct(Decimal(stats.exposed_samples) / stats.exposure_samples * 100
                                 if stats.exposure_samples else None),
            "open_positions_at_end": [{"symbol": p.symbol, "size": fmt(p.size), "entry_price": _p(p.avg_entry_price)}
                                      for p in open_positions],
            "breakers_tripped": [{"breaker": b.breaker, "reason": b.reason,
                                  "at": format_rfc3339(b.tripped_at) if b.tripped_at else None} for b in breakers],
        },
        "performance": perf_dict,
        "trades": trade_rows,
        "equity_curve": [[format_rfc3339(utc(t)), money(v)] for t, v in equity],
    }


async def _execution(session: AsyncSession, settings: Settings) -> dict[str, Any]:
    """The execution styles this run used, how its orders filled (maker or taker) and how its working
    orders ended (filled, partial, cancelled at the TTL, escalated)."""
    fills = (await session.execute(select(
        Fill.side, Fill.liquidity_indicator, func.count(func.distinct(Fill.order_id)), func.count(),
        func.sum(Fill.commission)).group_by(Fill.side, Fill.liquidity_indicator)
        .order_by(Fill.side, Fill.liquidity_indicator))).all()
    working = (await session.execute(text(
        "SELECT purpose, state, count(*), sum(amend_count), sum(post_only_rejections), "
        "count(*) FILTER (WHERE escalated) FROM working_orders GROUP BY purpose, state ORDER BY purpose, state"
    ))).all()
    return {
        "entry_order_type": {source.value: settings.entry_order_type_for(source.value)
                             for source in (OrderSource.SIGHOOK, OrderSource.TRADINGVIEW, OrderSource.WEBHOOK)},
        "exit_order_style": settings.exit_order_style,
        "desk_poll_interval_s": settings.working_poll_interval_s,
        "note": EXECUTION_NOTE,
        "fills": [{"side": side, "liquidity": liquidity, "orders": orders, "fills": n, "fees_usd": money(fees)}
                  for side, liquidity, orders, n, fees in fills],
        "working_orders": [{"purpose": purpose, "state": state, "count": n, "reprices": int(reprices or 0),
                            "post_only_rejections": int(rejections or 0), "escalated": escalated}
                           for purpose, state, n, reprices, rejections, escalated in working],
    }


def _p(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return fmt(value.quantize(Decimal("1e-8"), rounding=ROUND_HALF_UP))


def _pct(value: Decimal | None) -> str | None:
    if value is None:
        return None
    q = value.quantize(PCT, rounding=ROUND_HALF_UP)
    return str(q if q else abs(q))
