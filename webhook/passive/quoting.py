"""The pure quoting decision: where (and whether) to rest a passive bid and ask, and when to replace.

Hummingbot's pure market making, cut down to what a bracket-protected spot bot needs:
- the quote's spread is at least 2 × maker fee + a minimum edge, widened to a multiple of the ATR;
- inventory skew: the fuller the product's inventory, the smaller and lower the bid (and the
  nearer the ask), so inventory drifts back instead of piling up in a trend;
- price band: above the product's ceiling no bid, below its floor no ask;
- caps: no bid once the product's inventory or the total passive inventory reaches its cap, never
  while a breaker is tripped;
- refresh: a live quote is replaced when the mid moved by more than a threshold, or when it is older
  than the refresh time and its price would change (a quote within tolerance keeps its queue place).
No I/O; every input is a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from core.money import ZERO, quantize_down, quantize_to

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class QuoteParams:
    order_usd: Decimal  # bid notional at empty inventory
    maker_rate: Decimal  # fraction (0.006 = 0.6 %)
    min_edge_pct: Decimal  # percent, added to the round-trip maker fee
    atr_spread_mult: Decimal  # half spread ≥ mult × ATR / mid
    take_profit_pct: Decimal  # the bracket's take-profit distance above the fill
    max_inventory_usd: Decimal  # per product
    max_total_usd: Decimal  # over every passive product
    inventory_skew: bool = True
    ceiling: Decimal | None = None
    floor: Decimal | None = None

    @property
    def min_spread_pct(self) -> Decimal:
        """The narrowest full spread (bid to ask) that can earn after two maker fees."""
        return 2 * self.maker_rate * HUNDRED + self.min_edge_pct


@dataclass(frozen=True, slots=True)
class ProductRules:
    price_increment: Decimal
    base_increment: Decimal
    base_min_size: Decimal
    quote_min_size: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class MarketView:
    bid: Decimal
    ask: Decimal
    atr: Decimal | None = None  # quote currency, from sighook's matrix (None: not widened)

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class Inventory:
    base: Decimal  # the product's position (base units)
    total_usd: Decimal  # every passive product's inventory at its mid, this one included
    free_base: Decimal = ZERO  # base not held by a bracket (what an ask could sell)


@dataclass(frozen=True, slots=True)
class Level:
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class QuotePlan:
    bid: Level | None
    ask: Level | None
    half_spread_pct: Decimal
    bid_withheld: str | None = None  # why no bid (a closed set of short codes, see WITHHELD)
    ask_withheld: str | None = None


# Why a side is not quoted.
BREAKER = "breaker_tripped"
INVENTORY_CAP = "inventory_cap"
TOTAL_CAP = "total_cap"
ABOVE_CEILING = "above_ceiling"
BELOW_FLOOR = "below_floor"
TP_BELOW_FEES = "take_profit_below_fees"
TOO_SMALL = "size_below_minimum"
NO_INVENTORY = "no_free_inventory"
BAD_BOOK = "bad_book"
WITHHELD = frozenset({BREAKER, INVENTORY_CAP, TOTAL_CAP, ABOVE_CEILING, BELOW_FLOOR, TP_BELOW_FEES, TOO_SMALL,
                      NO_INVENTORY, BAD_BOOK})


def half_spread_pct(params: QuoteParams, market: MarketView) -> Decimal:
    """Half of the quote spread in percent: fees + edge, or the ATR multiple when wider."""
    fee_floor = params.min_spread_pct / 2
    if market.atr is None or market.atr <= 0 or market.mid <= 0:
        return fee_floor
    return max(fee_floor, params.atr_spread_mult * market.atr / market.mid * HUNDRED)


def plan_quotes(params: QuoteParams, rules: ProductRules, market: MarketView, inventory: Inventory,
                breaker_tripped: bool) -> QuotePlan:
    """Where to rest the bid and the ask now (None with a reason when a side must not be quoted)."""
    if market.bid <= 0 or market.ask <= market.bid:
        return QuotePlan(None, None, ZERO, BAD_BOOK, BAD_BOOK)
    mid = market.mid
    half = half_spread_pct(params, market)
    inv_usd = inventory.base * mid
    ratio = min(Decimal(1), inv_usd / params.max_inventory_usd) if params.max_inventory_usd > 0 else Decimal(1)
    skew = ratio if params.inventory_skew else ZERO
    bid, bid_why = _bid(params, rules, market, half, skew, inv_usd, inventory.total_usd, breaker_tripped)
    ask, ask_why = _ask(params, rules, market, half, skew, inventory.free_base)
    if bid is not None and ask is not None and ask.price <= bid.price:
        ask = Level(bid.price + rules.price_increment, ask.size)
    return QuotePlan(bid, ask, half, bid_why, ask_why)


def _bid(params: QuoteParams, rules: ProductRules, market: MarketView, half: Decimal, skew: Decimal,
         inv_usd: Decimal, total_usd: Decimal, breaker_tripped: bool) -> tuple[Level | None, str | None]:
    mid = market.mid
    if breaker_tripped:
        return None, BREAKER
    if params.take_profit_pct < params.min_spread_pct:
        return None, TP_BELOW_FEES  # every round trip would lose to fees
    if params.ceiling is not None and mid > params.ceiling:
        return None, ABOVE_CEILING
    room = params.max_inventory_usd - inv_usd
    if room <= 0:
        return None, INVENTORY_CAP
    total_room = params.max_total_usd - total_usd
    if total_room <= 0:
        return None, TOTAL_CAP
    # Skew: the bid moves further from the mid (up to twice the half spread) as inventory fills.
    bid_half = half * (1 + skew)
    price = quantize_to(mid * (1 - bid_half / HUNDRED), rules.price_increment, ROUND_FLOOR)
    price = min(price, market.ask - rules.price_increment)  # post-only: never at or through the ask
    if price <= 0:
        return None, BAD_BOOK
    notional = min(params.order_usd * (1 - skew), room, total_room)
    size = quantize_down(notional / price, rules.base_increment)
    if size <= 0 or size < rules.base_min_size or size * price < rules.quote_min_size:
        return None, TOO_SMALL if skew < 1 else INVENTORY_CAP
    return Level(price, size), None


def _ask(params: QuoteParams, rules: ProductRules, market: MarketView, half: Decimal, skew: Decimal,
         free_base: Decimal) -> tuple[Level | None, str | None]:
    mid = market.mid
    if params.floor is not None and mid < params.floor:
        return None, BELOW_FLOOR
    size = quantize_down(free_base, rules.base_increment)
    if size <= 0 or size < rules.base_min_size:
        return None, NO_INVENTORY
    # Skew: a full inventory brings the ask in (down to half the half spread) to shed it sooner.
    ask_half = half * (1 - skew / 2)
    price = quantize_to(mid * (1 + ask_half / HUNDRED), rules.price_increment, ROUND_CEILING)
    price = max(price, market.bid + rules.price_increment)
    return Level(price, size), None


@dataclass(frozen=True, slots=True)
class LiveQuote:
    """A resting passive order as the manager placed it."""

    order_id: str
    client_order_id: str
    price: Decimal
    size: Decimal
    mid_at_place: Decimal
    placed_mono: float


@dataclass(frozen=True, slots=True)
class RefreshParams:
    refresh_s: float
    move_pct: Decimal  # the mid moved this much (percent) since placing → replace at once


KEEP = "keep"
WITHDRAW = "withdraw"
MID_MOVED = "mid_moved"
REFRESH_TIME = "refresh_time"
SIZE_CUT = "size_cut"  # the caps now allow less than the live quote's size
PLACE = "place"


def refresh_action(live: LiveQuote | None, planned: Level | None, mid: Decimal, now_mono: float,
                   params: RefreshParams) -> str:
    """What to do with one side: keep, withdraw, replace (mid_moved / refresh_time) or place."""
    if planned is None:
        return KEEP if live is None else WITHDRAW
    if live is None:
        return PLACE
    if planned.size < live.size:
        return SIZE_CUT
    if live.mid_at_place > 0 and abs(mid - live.mid_at_place) / live.mid_at_place * HUNDRED >= params.move_pct:
        return MID_MOVED if planned.price != live.price else KEEP
    if now_mono - live.placed_mono >= params.refresh_s and (planned.price != live.price or planned.size != live.size):
        return REFRESH_TIME
    return KEEP
