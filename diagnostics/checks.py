"""The consistency checks of `diagnose`, as pure functions over what was read.

Each returns a CheckResult naming every problem it found (symbol, order id, prices), so a failing
run says what is wrong, not only that something is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from core.money import fmt as _fmt
from diagnostics.activity import SymbolActivity
from diagnostics.watch import Watch
from exchange.models import Balance, Order, Product
from market_data.protective_stop import CLIENT_ID_PREFIX
from market_data.trailing_stop import TrailingStop


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    passed: bool
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None  # why it could not run (never counts as passed)

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "passed": self.passed, "problems": self.problems, "skipped": self.skipped}


@dataclass(frozen=True, slots=True)
class HeldSize:
    symbol: str
    size: Decimal


def fmt(value: Decimal | None) -> str:
    return "none" if value is None else _fmt(value)


def _age(age_s: float | None) -> str:
    return "ever" if age_s is None or age_s == float("inf") else f"{age_s:.1f}s"


def _result(name: str, problems: list[str]) -> CheckResult:
    return CheckResult(name, not problems, problems)


def skipped(name: str, why: str) -> CheckResult:
    return CheckResult(name, False, [], why)


def is_guarded(position: HeldSize, products: Mapping[str, Product], hodl: Iterable[str]) -> bool:
    """The sentinel guards it: not a HODL asset and not unsellable dust (webhook/positions.py)."""
    product = products.get(position.symbol)
    base = position.symbol.split("-")[0].upper()
    if base in {h.upper() for h in hodl}:
        return False
    if product is None:
        return position.size > 0
    return position.size >= max(product.base_min_size, product.base_increment)


def check_daemon(watch: Watch) -> CheckResult:
    if watch.samples == 0:
        return _result("daemon_reachable", [f"no answer from the daemon's /health and /metrics: {watch.last_error}"])
    problems = []
    if watch.failed_samples:
        problems.append(f"{watch.failed_samples} of {watch.samples + watch.failed_samples} samples failed "
                        f"(last: {watch.last_error})")
    return _result("daemon_reachable", problems)


def check_price_feed(watch: Watch) -> CheckResult:
    limit = watch.staleness_limit_s
    problems = [
        f"{symbol}: no price update for {_age(feed.stale_worst_age_s)} (staleness limit {limit}s) "
        "while its trailing stop was open"
        for symbol, feed in sorted(watch.feeds.items()) if feed.stale_worst_age_s is not None
    ]
    return _result("price_feed_fresh", problems)


def check_trailing_rows(positions: Sequence[HeldSize], rows: Mapping[str, TrailingStop],
                        products: Mapping[str, Product], hodl: Iterable[str]) -> CheckResult:
    hodl = list(hodl)
    problems = [f"{p.symbol}: open position of {fmt(p.size)} has no trailing-stop row"
                for p in positions if is_guarded(p, products, hodl) and p.symbol not in rows]
    held = {p.symbol for p in positions}
    problems += [f"{symbol}: trailing-stop row without an open position" for symbol in sorted(rows)
                 if symbol not in held]
    return _result("every_position_has_a_trailing_stop", problems)


def our_stops(orders: Iterable[Order]) -> list[Order]:
    return [o for o in orders if o.client_order_id.startswith(CLIENT_ID_PREFIX)]


def check_exchange_stops(rows: Mapping[str, TrailingStop], open_orders: Sequence[Order]) -> CheckResult:
    """Every active stop has exactly one resting stop order of ours: the one on its row, at its price,
    never above the trailing stop itself."""
    stops = our_stops(open_orders)
    problems: list[str] = []
    for symbol, row in sorted(rows.items()):
        if not row.is_active:
            continue
        mine = [o for o in stops if o.product_id == symbol]
        if len(mine) != 1:
            expected = f"order {row.stop_order_id} at {fmt(row.stop_order_price)}" if row.stop_order_id else "one"
            problems.append(f"{symbol}: active trailing stop {fmt(row.current_stop)} has {len(mine)} exchange stop "
                            f"orders (expected {expected}); found {[o.order_id for o in mine]}")
            continue
        order = mine[0]
        if order.order_id != row.stop_order_id:
            problems.append(f"{symbol}: exchange stop {order.order_id} is not the one on the trailing row "
                            f"({row.stop_order_id})")
        if row.stop_order_price is None or order.stop_price != row.stop_order_price:
            problems.append(f"{symbol}: exchange stop at {fmt(order.stop_price)} but the row says "
                            f"{fmt(row.stop_order_price)}")
        if order.stop_price is not None and row.current_stop is not None and order.stop_price > row.current_stop:
            problems.append(f"{symbol}: exchange stop {fmt(order.stop_price)} is above the trailing stop "
                            f"{fmt(row.current_stop)}")
    return _result("active_stops_have_one_exchange_stop", problems)


def check_orphans(rows: Mapping[str, TrailingStop], open_orders: Sequence[Order]) -> CheckResult:
    known = {row.stop_order_id for row in rows.values() if row.stop_order_id}
    problems = [f"{o.product_id}: exchange stop {o.order_id} at {fmt(o.stop_price)} belongs to no trailing stop"
                for o in our_stops(open_orders) if o.order_id not in known]
    return _result("no_orphan_exchange_stops", problems)


def check_balances(positions: Sequence[HeldSize], balances: Mapping[str, Balance],
                   products: Mapping[str, Product]) -> CheckResult:
    """FIFO open size of each base currency equals the exchange balance (within one base increment)."""
    held: dict[str, Decimal] = {}
    increment: dict[str, Decimal] = {}
    for p in positions:
        base = p.symbol.split("-")[0].upper()
        held[base] = held.get(base, Decimal(0)) + p.size
    for product in products.values():
        increment.setdefault(product.base_currency.upper(), product.base_increment)
    problems = []
    for currency in sorted(set(held) | {c.upper() for c in balances if c.upper() in increment}):
        if currency in ("USD", "USDC"):
            continue
        ours = held.get(currency, Decimal(0))
        balance = balances.get(currency)
        theirs = balance.total if balance is not None else Decimal(0)
        if abs(ours - theirs) >= increment.get(currency, Decimal(0)) and ours != theirs:
            problems.append(f"{currency}: database position {fmt(ours)} but exchange balance {fmt(theirs)}")
    return _result("positions_equal_balances", problems)


def check_exchange_stop_failures(activity: Mapping[str, SymbolActivity]) -> CheckResult:
    """No exchange stop failed to be placed or moved, or was lost, during the watch (even if since repaired)."""
    problems = [f"{symbol}: {failure}" for symbol, a in sorted(activity.items()) for failure in a.exchange_failures]
    return _result("exchange_stops_never_failed", problems)


def check_fifo(issues: Sequence[str]) -> CheckResult:
    shown = list(issues[:10])
    if len(issues) > 10:
        shown.append(f"… and {len(issues) - 10} more (python main.py fifo check)")
    return _result("fifo_clean", shown)
