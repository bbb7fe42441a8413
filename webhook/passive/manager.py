"""The passive manager: quotes PASSIVE_PRODUCTS with post-only bids and protects each fill with a bracket.

One `step` (every PASSIVE_POLL_INTERVAL_S through the Clock port, or called by tests directly):
1. the live bid: a fill (even partial) cancels the rest and arms a bracket for the filled size at once;
2. the brackets: a filled leg records its exit reason and fills; a bracket cancelled behind our back
   or refused is re-armed, and after MAX_REARM_ATTEMPTS failures the position is handed to the
   sentinel with a notification;
3. the quote: `plan_quotes` decides the bid; `refresh_action` whether to keep, withdraw, place or
   replace it — placements pass the per-product order-rate guard.
While a product has brackets the sentinel leaves its position alone (`owns`); the exchange holds
the exit.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.enums import ExitReason, Side
from core.logging import get_logger
from core.money import ZERO, quantize_down
from core.settings import Settings
from exchange.models import Order, Quote
from exchange.port import ExchangeError, ExchangePort
from webhook.order_intent import client_order_id
from webhook.order_manager import OrderManager
from webhook.passive.bracket import (
    BracketPrices,
    HandOver,
    after_failure,
    bracket_exit_reason,
    bracket_prices,
    stop_overrun,
)
from webhook.passive.orders import PassiveOrders
from webhook.passive.quoting import (
    KEEP,
    PLACE,
    WITHDRAW,
    Inventory,
    Level,
    LiveQuote,
    MarketView,
    ProductRules,
    QuoteParams,
    RefreshParams,
    plan_quotes,
    refresh_action,
)
from webhook.passive.rate_guard import OrderRateGuard
from webhook.passive.types import ArmedBracket, ProductState
from webhook.working_orders.waits import wait

log = get_logger(__name__)

HANDOVER_TOPIC = "passive_bracket_handover"


class PassiveManager:
    def __init__(self, exchange: ExchangePort, orders: OrderManager, sessions: async_sessionmaker[AsyncSession],
                 settings: Settings, clock: Clock, *, settle: Callable[[str], Awaitable[object]],
                 notify: Callable[[str, str], Awaitable[object]], breaker_tripped: Callable[[], Awaitable[bool]],
                 position_size: Callable[[str], Decimal], atr: Callable[[str], Decimal | None] | None = None) -> None:
        self._exchange = exchange
        self._orders = orders
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._settle = settle
        self._notify = notify
        self._breaker_tripped = breaker_tripped
        self._position = position_size
        self._atr = atr or (lambda _symbol: None)
        self._send = PassiveOrders(orders, sessions, clock, settings.placement_backoff_base_s,
                                   settings.placement_backoff_max_s)
        self._guard = OrderRateGuard(settings.passive_max_orders_per_min)
        self._states = {s.upper(): ProductState(s.upper()) for s in settings.passive_products}
        self._ceilings = settings.passive_band("ceilings")
        self._floors = settings.passive_band("floors")
        self._maker_rate: Decimal | None = None
        # Quote ids: unique per run (a restart, or a clock that repeats, never reuses one), and
        # deterministic within it so a retried send can never double a quote.
        self._run_id = uuid.uuid4().hex[:12]

    # ---- what others ask ------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return bool(self._states)

    def owns(self, symbol: str) -> bool:
        """Is `symbol`'s position protected by brackets (so the sentinel must leave it alone)?"""
        state = self._states.get(symbol)
        return state is not None and bool(state.brackets) and not state.handed_over

    def state(self, symbol: str) -> ProductState:
        return self._states[symbol]

    def states(self) -> list[ProductState]:
        return list(self._states.values())

    # ---- the loop -------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        if not self._states:
            log.info("passive_off", note="PASSIVE_PRODUCTS is empty")
            return
        log.info("passive_started", products=sorted(self._states), refresh_s=self._settings.passive_refresh_s)
        await self.recover()
        while not stop.is_set():
            await self.step()
            await wait(self._clock, self._settings.passive_poll_interval_s, stop)
        # Shutdown leaves brackets on the exchange (they protect the positions); quotes are withdrawn.
        for state in self._states.values():
            if state.bid is not None:
                await self._cancel_bid(state, "shutdown")

    async def step(self) -> None:
        if not self._states:
            return
        quotes: dict[str, Quote] = {}
        try:
            quotes = {q.product_id: q for q in await self._exchange.get_best_bid_ask(list(self._states))}
        except ExchangeError as exc:
            log.warning("passive_book_unavailable", error=str(exc))
        try:
            tripped = await self._breaker_tripped()
        except Exception as exc:  # unknown breaker state: do not add risk
            log.warning("passive_breaker_state_unknown", error=repr(exc))
            tripped = True
        total = sum((self._position(s) * q.mid for s, q in quotes.items()), ZERO)
        for state in self._states.values():
            try:
                await self._watch_bid(state)
                quote = quotes.get(state.symbol)
                await self._watch_brackets(state, quote)
                if quote is not None:
                    await self._requote(state, quote, tripped, total)
            except ExchangeError as exc:
                log.warning("passive_step_exchange_error", symbol=state.symbol, error=str(exc))
            except Exception:
                log.exception("passive_step_failed", symbol=state.symbol)

    # ---- the bid --------------------------------------------------------------------------------
    async def _watch_bid(self, state: ProductState) -> None:
        if state.bid is None:
            return
        order = await self._exchange.get_order(state.bid.order_id)
        if order.filled_size > 0 and not order.status.is_terminal:
            # A passive buy is protected at once: the rest of the quote goes, the filled part is bracketed.
            await self._exchange.cancel_orders([order.order_id])
            order = await self._exchange.get_order(order.order_id)
        if order.status.is_terminal:
            await self._bid_done(state, order)

    async def _bid_done(self, state: ProductState, order: Order) -> None:
        state.bid = None
        await self._settle(order.order_id)  # its final state, fills and FIFO lots, before any exit is armed
        if order.filled_size <= 0:
            return
        state.last_fill_mono = self._clock.monotonic()
        product = await self._orders.product(state.symbol)
        size = quantize_down(order.filled_size, product.base_increment)
        entry = order.average_filled_price or order.limit_price
        log.info("passive_bid_filled", symbol=state.symbol, order_id=order.order_id, size=format(size, "f"),
                 price=None if entry is None else format(entry, "f"))
        if entry is None or size < product.base_min_size:
            log.warning("passive_fill_too_small_for_bracket", symbol=state.symbol, order_id=order.order_id,
                        size=format(size, "f"), min_size=format(product.base_min_size, "f"))
            return
        prices = bracket_prices(entry, self._settings.passive_take_profit_pct, self._settings.passive_stop_pct,
                                product.price_increment)
        bracket = ArmedBracket(state.symbol, order.order_id, size, entry, prices)
        state.brackets.append(bracket)
        await self._arm(state, bracket)

    async def _cancel_bid(self, state: ProductState, why: str) -> bool:
        """Cancel the live bid; True when it is gone unfilled (a fill is bracketed instead)."""
        live = state.bid
        if live is None:
            return True
        await self._exchange.cancel_orders([live.order_id])
        order = await self._exchange.get_order(live.order_id)
        if not order.status.is_terminal:
            return False  # cancel still queued: the next step looks again
        await self._bid_done(state, order)
        log.info("passive_quote_cancelled", symbol=state.symbol, order_id=live.order_id, why=why,
                 price=format(live.price, "f"), filled=format(order.filled_size, "f"))
        return order.filled_size <= 0

    async def _requote(self, state: ProductState, quote: Quote, tripped: bool, total_usd: Decimal) -> None:
        symbol = state.symbol
        now = self._clock.monotonic()
        position = self._position(symbol)
        if state.handed_over and position <= 0:
            state.handed_over = False  # the sentinel closed it: quoting may resume
        product = await self._orders.product(symbol)
        rules = ProductRules(product.price_increment, product.base_increment, product.base_min_size,
                             product.quote_min_size)
        market = MarketView(quote.bid, quote.ask, self._atr(symbol))
        plan = plan_quotes(await self._params(symbol), rules, market, Inventory(position, total_usd), tripped)
        bid, withheld = plan.bid, plan.bid_withheld
        if state.handed_over:
            bid, withheld = None, "handed_to_sentinel"
        elif bid is not None and state.last_fill_mono is not None and (
                now - state.last_fill_mono < self._settings.passive_filled_delay_s) and state.bid is None:
            bid, withheld = None, "filled_delay"
        if withheld != state.withheld:
            log.info("passive_quote_state", symbol=symbol, withheld=withheld,
                     half_spread_pct=format(plan.half_spread_pct, "f"))
            state.withheld = withheld
        refresh = RefreshParams(self._settings.passive_refresh_s, self._settings.passive_refresh_move_pct)
        action = refresh_action(state.bid, bid, market.mid, now, refresh)
        if action == KEEP:
            return
        if action == WITHDRAW:
            await self._cancel_bid(state, withheld or "withdrawn")
            return
        assert bid is not None
        if not self._guard.allows(symbol, now):
            state.rate_limited += 1
            log.info("passive_rate_limited", symbol=symbol, action=action,
                     sent_last_minute=self._guard.sent_in_window(symbol, now))
            return
        if action != PLACE:
            if not await self._cancel_bid(state, action):
                return
            state.replaced += 1
        await self._place_bid(state, bid, market.mid, now)

    async def _place_bid(self, state: ProductState, bid: Level, mid: Decimal, now: float) -> None:
        coid = client_order_id(f"passive:{self._run_id}:{state.symbol}", state.bid_seq)
        state.bid_seq += 1
        self._guard.record(state.symbol, now)
        result = await self._send.quote(state.symbol, Side.BUY, coid, bid.price, bid.size)
        if not (result.ok and result.order_id):
            log.warning("passive_quote_refused", symbol=state.symbol, price=format(bid.price, "f"),
                        error=result.error, detail=result.detail)
            return
        state.bid = LiveQuote(result.order_id, coid, bid.price, bid.size, mid, now)
        state.placed += 1
        log.info("passive_quote_placed", symbol=state.symbol, order_id=result.order_id, price=format(bid.price, "f"),
                 size=format(bid.size, "f"), mid=format(mid, "f"))

    async def _params(self, symbol: str) -> QuoteParams:
        if self._maker_rate is None:
            self._maker_rate = (await self._exchange.get_fee_tier()).maker_rate
        s = self._settings
        return QuoteParams(order_usd=s.passive_order_usd, maker_rate=self._maker_rate,
                           min_edge_pct=s.passive_min_edge_pct, atr_spread_mult=s.passive_atr_spread_mult,
                           take_profit_pct=s.passive_take_profit_pct, max_inventory_usd=s.passive_max_inventory_usd,
                           max_total_usd=s.passive_max_total_usd, inventory_skew=s.passive_inventory_skew,
                           ceiling=self._ceilings.get(symbol), floor=self._floors.get(symbol))

    # ---- the brackets ---------------------------------------------------------------------------
    async def _arm(self, state: ProductState, b: ArmedBracket) -> None:
        coid = client_order_id(f"passive:bracket:{b.buy_order_id}", b.arms)
        b.arms += 1
        size = b.size - b.filled_before
        result = await self._send.bracket(state.symbol, coid, size, b.prices.take_profit, b.prices.stop_trigger,
                                          b.buy_order_id, b.entry_price)
        if result.ok and result.order_id:
            b.order_id, b.client_order_id = result.order_id, coid
            log.info("passive_bracket_armed", symbol=state.symbol, order_id=result.order_id, size=format(size, "f"),
                     take_profit=format(b.prices.take_profit, "f"), stop=format(b.prices.stop_trigger, "f"),
                     failures=b.failures)
            return
        log.warning("passive_bracket_refused", symbol=state.symbol, error=result.error, detail=result.detail)
        await self._failed(state, b, f"refused: {result.error}", rearm_now=False)

    async def _watch_brackets(self, state: ProductState, quote: Quote | None) -> None:
        for b in list(state.brackets):
            if b not in state.brackets:
                continue  # a hand-over cleared the list meanwhile
            if b.order_id is None:
                await self._arm(state, b)  # refused at the last step: try again now
                continue
            order = await self._exchange.get_order(b.order_id)
            if not order.status.is_terminal and quote is not None and stop_overrun(quote.bid, b.prices):
                # A gap under the stop-limit's limit: the sentinel sells at market (its hard stop).
                await self._exchange.cancel_orders([b.order_id])
                order = await self._exchange.get_order(b.order_id)
                if order.filled_size > 0:
                    await self._bracket_filled(state, b, order)
                else:
                    await self._settle(order.order_id)
                await self._hand_over(state, b, f"the price gapped under the stop-limit's limit (bid {quote.bid})")
                return
            if not order.status.is_terminal:
                continue
            if order.filled_size > 0:
                await self._bracket_filled(state, b, order)
            else:
                await self._settle(order.order_id)  # its final state on the row
            product = await self._orders.product(state.symbol)
            if b.size - b.filled_before < product.base_min_size:
                state.brackets.remove(b)
                continue
            b.order_id = None
            await self._failed(state, b, f"bracket {order.status.value.lower()}", rearm_now=True)

    async def _bracket_filled(self, state: ProductState, b: ArmedBracket, order: Order) -> None:
        price = order.average_filled_price or b.prices.take_profit
        reason = bracket_exit_reason(price, b.prices)
        target = b.prices.take_profit if reason is ExitReason.BRACKET_TAKE_PROFIT else b.prices.stop_trigger
        await self._send.record_exit_reason(order.order_id, reason, target, price)
        await self._settle(order.order_id)
        b.filled_before += order.filled_size
        log.info("passive_bracket_filled", symbol=state.symbol, order_id=order.order_id, reason=reason.value,
                 size=format(order.filled_size, "f"), price=format(price, "f"), entry=format(b.entry_price, "f"))

    async def _failed(self, state: ProductState, b: ArmedBracket, why: str, *, rearm_now: bool) -> None:
        b.failures += 1
        decision = after_failure(b.failures, self._settings.max_rearm_attempts)
        if isinstance(decision, HandOver):
            await self._hand_over(state, b, why)
            return
        log.warning("passive_bracket_rearm", symbol=state.symbol, why=why, failures=b.failures,
                    max_attempts=self._settings.max_rearm_attempts)
        if rearm_now:
            await self._arm(state, b)

    async def _hand_over(self, state: ProductState, b: ArmedBracket, why: str) -> None:
        """Give the whole position to the sentinel: its other brackets are cancelled (it exits it all)."""
        others = [x.order_id for x in state.brackets if x is not b and x.order_id is not None]
        if others:
            await self._exchange.cancel_orders(others)
        state.brackets.clear()
        state.handed_over = True
        if state.bid is not None:
            await self._cancel_bid(state, "handed_to_sentinel")
        what = f"failed {b.failures} times ({why})" if b.failures else f"was given up: {why}"
        message = (f"{state.symbol}: the passive bracket {what}; the position is handed to the sentinel "
                   f"(entry {b.entry_price}, stop {b.prices.stop_trigger}, take-profit {b.prices.take_profit})")
        log.error("passive_bracket_handed_to_sentinel", symbol=state.symbol, failures=b.failures, why=why)
        try:
            await self._notify(HANDOVER_TOPIC, message)
        except Exception:
            log.exception("passive_notify_failed", symbol=state.symbol)

    # ---- restart --------------------------------------------------------------------------------
    async def recover(self) -> int:
        """Adopt the brackets a previous run left (they keep protecting their positions) and cancel
        its quotes (a fresh quote follows from the book)."""
        async with self._sessions() as session:
            rows = (await session.execute(text(
                "SELECT order_id, symbol, trigger, size FROM trade_records "
                "WHERE trigger ? 'passive' AND order_id NOT LIKE 'coid:%' AND ("
                "  status IN ('NEW','PENDING','OPEN','QUEUED','CANCEL_QUEUED','EDIT_QUEUED')"
                "  OR (trigger->>'passive' = 'bracket' AND exit_reason IS NULL AND filled_size > 0))"))).all()
        adopted = 0
        for order_id, symbol, trigger, size in rows:
            state = self._states.get(symbol)
            if state is None:
                continue
            try:
                order = await self._exchange.get_order(order_id)
            except ExchangeError as exc:
                log.warning("passive_recover_failed", order_id=order_id, error=str(exc))
                continue
            if trigger.get("passive") == "quote":
                state.bid = LiveQuote(order_id, order.client_order_id, order.limit_price or ZERO, size or ZERO,
                                      ZERO, self._clock.monotonic())
                await self._cancel_bid(state, "restart")
            elif trigger.get("passive") == "bracket":
                prices = BracketPrices(Decimal(trigger["take_profit"]), Decimal(trigger["bracket_stop"]))
                bracket = ArmedBracket(symbol, trigger.get("buy_order_id", ""), order.base_size or ZERO,
                                       Decimal(trigger.get("entry_price", "0")), prices, order_id=order_id,
                                       client_order_id=order.client_order_id, arms=100)
                if not order.status.is_terminal:
                    state.brackets.append(bracket)
                    adopted += 1
                elif order.filled_size > 0:  # it filled while we were away: name the leg now
                    await self._bracket_filled(state, bracket, order)
        if adopted:
            log.info("passive_brackets_recovered", brackets=adopted)
        return adopted
