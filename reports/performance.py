"""Performance by exit reason (pure: no I/O, no clock).

A trade is one sell order with its FIFO P&L. Per exit reason and overall: trades, win rate,
average win and loss, realized reward:risk, expectancy, total P&L and fees — and next to them
the configured thresholds and the realized price moves, so a reader sees at once whether stops
and targets fire where they are configured to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.enums import ExitReason
from core.money import ZERO
from core.settings import Settings

UNSPECIFIED = "unspecified"  # sells without an exit reason (manual, reconciled, imported)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class TradeOutcome:
    """One sell order and its realized result (sums over its FIFO allocation rows)."""

    sell_order_id: str
    symbol: str
    exit_reason: str | None
    exit_time: datetime
    pnl_usd: Decimal
    fees_usd: Decimal  # buy fees in the matched lots + sell fees
    cost_basis_usd: Decimal | None = None
    entry_price: Decimal | None = None  # size-weighted buy price of the matched lots (fees excluded)
    exit_price: Decimal | None = None  # size-weighted sell price (fees excluded)
    exit_target_price: Decimal | None = None  # the threshold price the sentinel aimed at
    missing_basis: bool = False

    @property
    def reason(self) -> str:
        return self.exit_reason or UNSPECIFIED

    @property
    def move_pct(self) -> Decimal | None:
        """Price move from entry to exit, in percent: what the stop/target thresholds are about."""
        if self.entry_price is None or self.exit_price is None or self.entry_price == 0:
            return None
        return (self.exit_price - self.entry_price) / self.entry_price * HUNDRED

    @property
    def return_pct(self) -> Decimal | None:
        """P&L over cost basis, in percent (fees included)."""
        if not self.cost_basis_usd:
            return None
        return self.pnl_usd / self.cost_basis_usd * HUNDRED

    @property
    def slippage_pct(self) -> Decimal | None:
        """Exit fill price against the sentinel's target price, in percent (negative = worse for a sell)."""
        if self.exit_target_price is None or self.exit_price is None or self.exit_target_price == 0:
            return None
        return (self.exit_price - self.exit_target_price) / self.exit_target_price * HUNDRED


@dataclass(frozen=True)
class ExitThresholds:
    stop_loss_hard_pct: Decimal
    stop_loss_soft_pct: Decimal
    take_profit_pct: Decimal
    trailing_activation_pct: Decimal
    trailing_min_distance_pct: Decimal
    trailing_max_distance_pct: Decimal
    # EXIT_PNL_BASIS: which realized figure the configured percentages are comparable with —
    # `net`: P&L over cost basis (fees in, = the sentinel's net basis); `price`: the price move.
    pnl_basis: str = "price"

    @classmethod
    def from_settings(cls, settings: Settings) -> ExitThresholds:
        return cls(
            stop_loss_hard_pct=settings.stop_loss_hard_pct,
            stop_loss_soft_pct=settings.stop_loss_soft_pct,
            take_profit_pct=settings.take_profit_pct,
            trailing_activation_pct=settings.trailing_activation_pct,
            trailing_min_distance_pct=settings.trailing_min_distance_pct,
            trailing_max_distance_pct=settings.trailing_max_distance_pct,
            pnl_basis=getattr(settings, "exit_pnl_basis", "price"),
        )

    def for_reason(self, reason: str | None) -> tuple[tuple[str, Decimal], ...]:
        """The configured values a realized exit of this reason should be compared with."""
        trailing = (
            ("trailing_activation_pct", self.trailing_activation_pct),
            ("trailing_min_distance_pct", self.trailing_min_distance_pct),
            ("trailing_max_distance_pct", self.trailing_max_distance_pct),
        )
        table: dict[str, tuple[tuple[str, Decimal], ...]] = {
            ExitReason.HARD_STOP: (("stop_loss_hard_pct", self.stop_loss_hard_pct),),
            ExitReason.SOFT_STOP: (("stop_loss_soft_pct", self.stop_loss_soft_pct),),
            ExitReason.TAKE_PROFIT: (("take_profit_pct", self.take_profit_pct),),
            ExitReason.SIGNAL: (("signal_exit_min_pnl_pct", ZERO),),  # signal exits only at P&L ≥ 0
            ExitReason.TRAILING_STOP: trailing,
            ExitReason.PROTECTIVE_STOP: trailing,
        }
        if reason is None:  # overall: every threshold
            return (
                ("stop_loss_hard_pct", self.stop_loss_hard_pct),
                ("stop_loss_soft_pct", self.stop_loss_soft_pct),
                ("take_profit_pct", self.take_profit_pct),
                *trailing,
            )
        return table.get(reason, ())


@dataclass(frozen=True)
class GroupStats:
    label: str
    trades: int
    wins: int
    losses: int
    breakeven: int
    win_rate: Decimal | None  # wins / trades, 0..1
    avg_win: Decimal | None
    avg_loss: Decimal | None  # negative
    reward_risk: Decimal | None  # avg_win / |avg_loss|
    expectancy: Decimal | None  # total P&L / trades (= win_rate·avg_win + loss_rate·avg_loss)
    total_pnl: Decimal
    fees_paid: Decimal
    avg_move_pct: Decimal | None
    min_move_pct: Decimal | None
    max_move_pct: Decimal | None
    avg_return_pct: Decimal | None
    avg_slippage_pct: Decimal | None
    configured: tuple[tuple[str, Decimal], ...]
    pnl_basis: str = "price"

    @property
    def avg_on_basis_pct(self) -> Decimal | None:
        """The realized figure the configured thresholds are measured on (EXIT_PNL_BASIS)."""
        return self.avg_return_pct if self.pnl_basis == "net" else self.avg_move_pct


@dataclass(frozen=True)
class EquityPoint:
    time: datetime
    sell_order_id: str
    pnl_usd: Decimal
    cumulative_pnl_usd: Decimal


@dataclass(frozen=True)
class PerformanceReport:
    since: datetime | None
    overall: GroupStats
    by_reason: tuple[GroupStats, ...]
    equity_curve: tuple[EquityPoint, ...]
    max_drawdown_usd: Decimal  # largest peak-to-trough fall of the equity curve (≥ 0)
    excluded_missing_basis: int  # sells with a $0-basis slice: their P&L says nothing about the strategy


def _mean(values: Sequence[Decimal]) -> Decimal | None:
    return sum(values, ZERO) / len(values) if values else None


def group_stats(label: str, trades: Sequence[TradeOutcome], configured: tuple[tuple[str, Decimal], ...],
                pnl_basis: str = "price") -> GroupStats:
    wins = [t.pnl_usd for t in trades if t.pnl_usd > 0]
    losses = [t.pnl_usd for t in trades if t.pnl_usd < 0]
    total = sum((t.pnl_usd for t in trades), ZERO)
    avg_win, avg_loss = _mean(wins), _mean(losses)
    moves = [m for t in trades if (m := t.move_pct) is not None]
    returns = [r for t in trades if (r := t.return_pct) is not None]
    slips = [s for t in trades if (s := t.slippage_pct) is not None]
    return GroupStats(
        label=label,
        trades=len(trades),
        wins=len(wins),
        losses=len(losses),
        breakeven=len(trades) - len(wins) - len(losses),
        win_rate=Decimal(len(wins)) / len(trades) if trades else None,
        avg_win=avg_win,
        avg_loss=avg_loss,
        reward_risk=avg_win / -avg_loss if avg_win is not None and avg_loss is not None else None,
        expectancy=total / len(trades) if trades else None,
        total_pnl=total,
        fees_paid=sum((t.fees_usd for t in trades), ZERO),
        avg_move_pct=_mean(moves),
        min_move_pct=min(moves) if moves else None,
        max_move_pct=max(moves) if moves else None,
        avg_return_pct=_mean(returns),
        avg_slippage_pct=_mean(slips),
        configured=configured,
        pnl_basis=pnl_basis,
    )


def _reason_order(reason: str) -> tuple[int, str]:
    order = [r.value for r in ExitReason]
    return (order.index(reason), reason) if reason in order else (len(order), reason)


def equity_curve(trades: Iterable[TradeOutcome]) -> tuple[EquityPoint, ...]:
    points = []
    cumulative = ZERO
    for t in sorted(trades, key=lambda t: (t.exit_time, t.sell_order_id)):
        cumulative += t.pnl_usd
        points.append(EquityPoint(t.exit_time, t.sell_order_id, t.pnl_usd, cumulative))
    return tuple(points)


def max_drawdown(curve: Sequence[EquityPoint]) -> Decimal:
    peak, worst = ZERO, ZERO  # the curve starts at 0 before the first trade
    for p in curve:
        peak = max(peak, p.cumulative_pnl_usd)
        worst = max(worst, peak - p.cumulative_pnl_usd)
    return worst


def build_performance_report(
    trades: Iterable[TradeOutcome], thresholds: ExitThresholds, *, since: datetime | None = None
) -> PerformanceReport:
    """Stats per exit reason and overall for the trades that exited at or after `since`."""
    chosen = [t for t in trades if since is None or t.exit_time >= since]
    usable = [t for t in chosen if not t.missing_basis]
    reasons = sorted({t.reason for t in usable}, key=_reason_order)
    by_reason = tuple(
        group_stats(r, [t for t in usable if t.reason == r], thresholds.for_reason(r), thresholds.pnl_basis)
        for r in reasons
    )
    curve = equity_curve(usable)
    return PerformanceReport(
        since=since,
        overall=group_stats("overall", usable, thresholds.for_reason(None), thresholds.pnl_basis),
        by_reason=by_reason,
        equity_curve=curve,
        max_drawdown_usd=max_drawdown(curve),
        excluded_missing_basis=len(chosen) - len(usable),
    )
