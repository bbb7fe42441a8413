"""Working-order decisions (pure): prices, re-price / TTL / escalation, sizing, backoff."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from core.enums import OrderSource, OrderStatus, Side
from webhook.working_orders.policy import (
    CancelRest,
    Escalate,
    Finish,
    Reprice,
    Wait,
    backoff_delay,
    base_size_for_quote,
    capped_entry_price,
    decide_entry,
    decide_exit,
    entry_limit_price,
    exit_limit_price,
)
from webhook.working_orders.types import BookTop, EntryOrderType, EntryParams, ExitParams, Purpose, WorkingOrder

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TICK = D("0.01")


def _wo(purpose: Purpose = Purpose.ENTRY, **kw: object) -> WorkingOrder:
    base: dict[str, object] = dict(
        id="wo", intent_key="k", purpose=purpose, symbol="ETH-USD", side=Side.BUY if purpose is Purpose.ENTRY
        else Side.SELL, order_type=EntryOrderType.POST_ONLY, source=OrderSource.SIGHOOK, target_size=D("1"),
        started_at=T0, deadline_at=T0 + timedelta(seconds=60), limit_price=D("100.00"), order_id="o1")
    base.update(kw)
    return WorkingOrder(**base)  # type: ignore[arg-type]


def test_entry_prices_by_type() -> None:
    top = BookTop(D("100.00"), D("100.02"))
    assert entry_limit_price(EntryOrderType.POST_ONLY, Side.BUY, top, TICK) == D("100.00")
    assert entry_limit_price(EntryOrderType.LIMIT, Side.BUY, top, TICK) == D("100.02")
    assert entry_limit_price(EntryOrderType.MARKET, Side.BUY, top, TICK) is None
    # A crossed/locked book never yields a post-only price at or above the ask.
    assert entry_limit_price(EntryOrderType.POST_ONLY, Side.BUY, BookTop(D("100.02"), D("100.02")), TICK) == D("100.01")


def test_exit_limit_is_on_the_tick_strictly_above_the_bid() -> None:
    assert exit_limit_price(D("98.39"), D("0.0001"), TICK) == D("98.40")
    assert exit_limit_price(D("100.00"), D("0"), TICK) == D("100.01")
    assert exit_limit_price(D("60000.00"), D("0.0001"), TICK) == D("60006.00")


def test_base_size_from_quote_includes_the_fee_and_sits_on_the_increment() -> None:
    size = base_size_for_quote(D("100"), D("100.99"), D("0.006"), D("0.00000001"))
    assert size == D("0.98429130") and size * D("100.99") * D("1.006") <= 100


def test_entry_reprices_when_the_bid_moves_away_up_to_its_budget_then_waits_for_the_ttl() -> None:
    params = EntryParams(ttl_s=60, max_reprices=2, price_increment=TICK)
    up = BookTop(D("100.50"), D("100.52"))
    moved = Reprice(D("100.50"), "best bid moved away to 100.50")
    assert decide_entry(_wo(), OrderStatus.OPEN, up, T0, params) == moved
    assert isinstance(decide_entry(_wo(), OrderStatus.OPEN, BookTop(D("100.00"), D("100.02")), T0, params), Wait)
    assert isinstance(decide_entry(_wo(), OrderStatus.OPEN, BookTop(D("99.90"), D("99.92")), T0, params), Wait)
    assert isinstance(decide_entry(_wo(reprice_count=2), OrderStatus.OPEN, up, T0, params), Wait)
    assert isinstance(decide_entry(_wo(), OrderStatus.OPEN, up, T0 + timedelta(seconds=60), params), CancelRest)
    assert isinstance(decide_entry(_wo(), OrderStatus.FILLED, up, T0, params), Finish)
    limit = _wo(order_type=EntryOrderType.LIMIT)
    assert isinstance(decide_entry(limit, OrderStatus.OPEN, up, T0, params), Wait)  # only post-only follows the bid


def test_exit_escalates_at_the_hard_stop_before_anything_else_and_at_its_deadline() -> None:
    params = ExitParams(limit_offset=D("0.0001"), max_reprices=3, price_increment=TICK)
    wo = _wo(Purpose.EXIT, hard_stop_price=D("95"), limit_price=D("98.40"))
    assert decide_exit(wo, OrderStatus.OPEN, BookTop(D("94.99"), D("95.01")), T0, params) == Escalate(
        "hard_stop_reached")
    assert decide_exit(wo, OrderStatus.OPEN, BookTop(D("98.39"), D("98.41")), T0 + timedelta(seconds=60),
                       params) == Escalate("timeout")
    assert decide_exit(wo, OrderStatus.OPEN, BookTop(D("98.19"), D("98.21")), T0, params) == Reprice(
        D("98.20"), "bid now 98.19")
    assert isinstance(decide_exit(wo, OrderStatus.OPEN, BookTop(D("98.39"), D("98.41")), T0, params), Wait)
    escalated = _wo(Purpose.EXIT, hard_stop_price=D("95"), escalated=True)
    assert isinstance(decide_exit(escalated, OrderStatus.OPEN, BookTop(D("90"), D("90.02")), T0, params), Wait)


def test_backoff_is_bounded_exponential_with_jitter() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(a, 0.2, 5.0, rng) for a in range(10)]
    assert all(0.1 <= d <= 0.2 for d in delays[:1])
    assert all(d <= 5.0 for d in delays) and max(delays) >= 2.5
    assert delays[3] >= 0.8  # 0.2 × 2³ = 1.6, jittered into [0.8, 1.6]


def test_a_buy_never_rests_above_the_price_its_caps_were_checked_at() -> None:
    """#16 × #19: the sizing function checked the caps at the ask; chasing the bid stops there."""
    params = EntryParams(ttl_s=60, max_reprices=5, price_increment=TICK)
    ceiling = D("100.30")
    far = BookTop(D("100.50"), D("100.52"))
    # The bid ran past the ceiling: re-priced once up to the ceiling (on the tick, rounded down) …
    assert decide_entry(_wo(price_ceiling=ceiling), OrderStatus.OPEN, far, T0, params) == Reprice(
        D("100.30"), "best bid moved away to 100.50")
    # … and no further, however far it runs.
    at_ceiling = decide_entry(_wo(price_ceiling=ceiling, limit_price=D("100.30")), OrderStatus.OPEN, far, T0, params)
    assert at_ceiling == Wait("at the price ceiling")
    # Below the ceiling it follows the bid as before.
    near = BookTop(D("100.10"), D("100.12"))
    assert decide_entry(_wo(price_ceiling=ceiling), OrderStatus.OPEN, near, T0, params) == Reprice(
        D("100.10"), "best bid moved away to 100.10")
    assert capped_entry_price(D("101"), D("100.309"), Side.BUY, TICK) == D("100.30")
    assert capped_entry_price(D("101"), None, Side.BUY, TICK) == D("101")
    assert capped_entry_price(D("101"), D("100"), Side.SELL, TICK) == D("101")  # sells are never capped
    assert capped_entry_price(None, D("100"), Side.BUY, TICK) is None  # market: no limit to cap
