"""The matching engine: orders against synthetic per-product books driven by price processes.

Pure: every method takes `now`; price paths come from seeded generators, so one seed and one
sequence of calls give the same prices and fills. Order, trade and wallet ids are random UUIDs: they
never repeat across restarts or simulators (a seed must never reissue an id the daemon has stored).
Callers drain `events` after each call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from core.money import quantize_down, quantize_to
from simulator.engine import validation as v
from simulator.engine.accounts import Ledger
from simulator.engine.book import walk_base, walk_quote
from simulator.engine.candles import seed_history
from simulator.engine.events import BookEvent, EngineEvent, FillEvent, OrderEvent, TickerEvent, TradeEvent
from simulator.engine.market import Market
from simulator.engine.orders import MarketTrade, OrderSpec, Rejection, SimFill, SimOrder, parse_order_configuration
from simulator.engine.price_process import CsvReplay, OhlcvRow, RandomWalk
from simulator.engine.products import ProductSpec, ProductState
from simulator.engine.queue import queue_fill, resting_ahead
from simulator.engine.settlement import release_remaining_hold, settle_fill
from simulator.engine.types import AcceptMode, CancelOutcome, CreateOutcome, EngineConfig

ZERO = Decimal(0)
QUOTE_FILL_SIZE_STEP = Decimal("1e-12")  # base precision of quote-sized market buy fills (Coinbase: many decimals)
__all__ = ["AcceptMode", "CancelOutcome", "CreateOutcome", "EngineConfig", "MatchingEngine"]


class MatchingEngine:
    def __init__(self, config: EngineConfig, specs: list[ProductSpec], now: datetime,
                 initial_balances: dict[str, Decimal], replay: list[OhlcvRow] | None = None,
                 ids: Callable[[], str] | None = None) -> None:
        """`ids`: where order/trade ids come from. Paper and tests: random UUIDs (never reissued across
        restarts); a replay passes a seeded source so one seed gives byte-identical reports."""
        self.config = config
        self._ids = ids or (lambda: str(uuid.uuid4()))
        self.ledger = Ledger()
        self.markets: dict[str, Market] = {}
        self.orders: dict[str, SimOrder] = {}
        self._active: dict[str, SimOrder] = {}  # non-terminal orders, in creation order
        self._by_client_id: dict[str, str] = {}
        self.fills: list[SimFill] = []
        self.events: list[EngineEvent] = []
        self.ticks = 0
        for index, spec in enumerate(specs):
            self._add_market(index, spec, now, replay)
        for currency, amount in sorted(initial_balances.items()):
            self.ledger.deposit(currency, amount, self.new_id())
        for currency in sorted({c for m in self.markets.values()
                                for c in (m.state.spec.base_currency, m.state.spec.quote_currency)}):
            self.ledger.open(currency, self.new_id())

    # ---- set-up -------------------------------------------------------------------------------
    def _add_market(self, index: int, spec: ProductSpec, now: datetime, replay: list[OhlcvRow] | None) -> None:
        cfg = self.config
        vol, drift = cfg.product_params.get(spec.product_id, (cfg.volatility, cfg.drift))
        rows = [r for r in (replay or []) if r.product_id in (None, spec.product_id)]
        price = spec.initial_price
        mean_volume = cfg.mean_tick_volume_usd / price
        process: RandomWalk | CsvReplay
        if rows:
            process = CsvReplay(rows, spec.price_increment)
            price = process.first_price
        else:
            process = RandomWalk(cfg.seed * 1000 + index, vol, drift, spec.price_increment, mean_volume)
        market = Market(ProductState(spec), process, price, cfg.book, trade_id_seed=(index + 1) * 10**9)
        ticks_per_minute = Decimal(str(60 / cfg.tick_interval_s))
        seed_history(market.candles, end=now, end_price=market.price, minutes=cfg.history_minutes,
                     seed=cfg.seed * 1000 + index + 500, minute_volatility=vol * ticks_per_minute.sqrt(),
                     mean_minute_volume=mean_volume * ticks_per_minute, tick=spec.price_increment)
        self.markets[spec.product_id] = market

    def new_id(self) -> str:
        return self._ids()

    def restore_books(self, orders: list[SimOrder], fills: list[SimFill]) -> None:
        """Put back the orders (in creation order) and fills of an earlier run (see simulator/store.py)."""
        self.orders = {o.order_id: o for o in orders}
        self._active = {o.order_id: o for o in orders if not o.terminal}
        self._by_client_id = {o.client_order_id: o.order_id for o in orders}
        self.fills = list(fills)

    # ---- queries --------------------------------------------------------------------------------
    def market(self, product_id: str) -> Market | None:
        return self.markets.get(product_id)

    def order_by_client_id(self, client_order_id: str) -> SimOrder | None:
        oid = self._by_client_id.get(client_order_id)
        return self.orders.get(oid) if oid else None

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        return self.ledger.snapshot()

    def open_orders(self, product_id: str | None = None) -> list[SimOrder]:
        return [o for o in self._active.values()
                if not o.terminal and o.status != "PENDING" and (product_id is None or o.product_id == product_id)]

    def drain_events(self) -> list[EngineEvent]:
        out, self.events = self.events, []
        return out

    # ---- order entry ----------------------------------------------------------------------------
    def create_order(self, client_order_id: str, product_id: str, side: str, order_configuration: object,
                     now: datetime, mode: AcceptMode = "normal", pending_until: datetime | None = None
                     ) -> CreateOutcome:
        """Validate and accept (or reject) an order. mode "stuck_pending" keeps it PENDING until
        `pending_until` (or release_pending); "fail" accepts it and then FAILS it (HOLD_FAILURE)."""
        existing = self.order_by_client_id(client_order_id) if client_order_id else None
        if existing is not None:
            return CreateOutcome(order=existing, duplicate=True)
        raw = order_configuration if isinstance(order_configuration, dict) else None
        spec = parse_order_configuration(order_configuration)
        market = self.markets.get(product_id)
        rejection = v.check_product(market.state if market else None,
                                    spec.is_market if isinstance(spec, OrderSpec) else None)
        if rejection is None and side not in ("BUY", "SELL"):
            rejection = Rejection("INVALID_SIDE", "UNKNOWN_PREVIEW_FAILURE_REASON", "Invalid side")
        if rejection is None and isinstance(spec, Rejection):
            rejection = spec
        if rejection is not None or market is None or not isinstance(spec, OrderSpec):
            return CreateOutcome(rejection=rejection, spec_raw=raw)
        rejection = self._validate(spec, side, market, now)
        if rejection is not None:
            return CreateOutcome(rejection=rejection, spec_raw=raw)
        order = self._accept(client_order_id or self.new_id().replace("-", ""), market, side, spec, now)
        if mode == "fail":
            order.status, order.reject_reason, order.reject_message = "FAILED", "HOLD_FAILURE", "Hold failure"
            release_remaining_hold(order, self.ledger)
            self._changed(order)
        elif mode == "stuck_pending":
            order.pending_until = pending_until or datetime.max.replace(tzinfo=now.tzinfo)
        else:
            self._activate(order, market, now)
        return CreateOutcome(order=order, spec_raw=raw)

    def _validate(self, spec: OrderSpec, side: str, market: Market, now: datetime) -> Rejection | None:
        state, book, cfg = market.state, market.book, self.config
        base, quote = state.spec.base_currency, state.spec.quote_currency
        return (v.check_precision(spec, state)
                or v.check_sizes(spec, side, state, book)
                or v.check_prices(spec, side, state, book, market.price, now)
                or v.check_funds(v.required_funds(spec, side, book, cfg.taker_fee_rate, cfg.bracket_stop_slippage),
                                 self.ledger.available(quote), self.ledger.available(base)))

    def _accept(self, client_order_id: str, market: Market, side: str, spec: OrderSpec, now: datetime) -> SimOrder:
        cfg, pspec = self.config, market.state.spec
        order = SimOrder(self.new_id(), client_order_id, pspec.product_id, side, spec, now,
                         working_price=spec.limit_price)
        if spec.order_type in ("STOP_LIMIT", "BRACKET"):
            order.trigger_status = "STOP_PENDING"
        need = v.required_funds(spec, side, market.book, cfg.taker_fee_rate, cfg.bracket_stop_slippage)
        assert need is not None  # validated
        order.hold_currency = pspec.quote_currency if side == "BUY" else pspec.base_currency
        if side == "SELL" and spec.base_size is None:
            need = ("base", min(need[1], self.ledger.available(pspec.base_currency)))
        order.hold_remaining = need[1]
        if side == "BUY":
            order.per_base_hold = v.buy_hold_per_base(spec, cfg.taker_fee_rate, cfg.bracket_stop_slippage)
        self.ledger.place_hold(order.hold_currency, order.hold_remaining)
        self.orders[order.order_id] = order
        self._active[order.order_id] = order
        self._by_client_id[client_order_id] = order.order_id
        self._changed(order)  # PENDING
        return order

    def release_pending(self, order_id: str, now: datetime) -> None:
        """Let an order held in PENDING (fault R14) proceed."""
        order = self.orders.get(order_id)
        if order is not None and order.status == "PENDING":
            order.pending_until = None
            self._activate(order, self.markets[order.product_id], now)

    def _activate(self, order: SimOrder, market: Market, now: datetime) -> None:
        spec = order.spec
        if spec.is_market:
            self._finish_ioc(order, self._take(order, market, now, limit=None))
            return
        if spec.order_type == "LIMIT":
            if spec.time_in_force == "FILL_OR_KILL" and not self._fok_fillable(order, market):
                self._finish_ioc(order, complete=False)
                return
            if not spec.post_only:
                self._take(order, market, now, limit=order.working_price)
                if order.status == "FILLED":  # fully filled on arrival: one merged update says so
                    self._changed(order)
                    return
            if spec.time_in_force in ("IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"):
                self._finish_ioc(order, complete=False)
                return
        if order.status == "PENDING":
            order.status = "OPEN"
            if spec.order_type == "LIMIT" and order.working_price is not None and order.leaves > 0:
                order.queue_ahead = resting_ahead(market.book, order.is_buy, order.working_price)
            self._changed(order)

    def _fok_fillable(self, order: SimOrder, market: Market) -> bool:
        levels = market.book.asks if order.is_buy else market.book.bids
        limit, size = order.working_price, order.spec.base_size or ZERO
        available = sum((lv.size for lv in levels if lv.size > 0 and limit is not None
                         and (lv.price <= limit if order.is_buy else lv.price >= limit)), ZERO)
        return available >= size

    def _finish_ioc(self, order: SimOrder, complete: bool) -> None:
        """End an immediate order: FILLED when complete, else CANCELLED with the remainder released."""
        if order.status != "FILLED":
            order.status = "FILLED" if complete else "CANCELLED"
            if not complete:
                order.cancel_message = "IOC order not fully filled" if order.filled_size > 0 else "IOC order not filled"
        release_remaining_hold(order, self.ledger)
        self._changed(order)

    # ---- fills ----------------------------------------------------------------------------------
    def _take(self, order: SimOrder, market: Market, now: datetime, limit: Decimal | None) -> bool:
        """Cross the book as taker (market orders, marketable limits, triggered stops).

        Fills are recorded quietly; the caller emits one merged order update. Returns whether the
        whole order amount was filled.
        """
        buying = order.is_buy
        levels = market.book.asks if buying else market.book.bids
        rate = self.config.taker_fee_rate
        spec = order.spec
        if spec.quote_size is not None and buying:
            # Buy by quote: cost including fees equals quote_size exactly (size_inclusive_of_fees); the
            # sub-step dust left by size rounding is charged as fee on the last fill, as Coinbase does.
            budget = order.hold_remaining / (1 + rate)
            chunks = walk_quote(levels, budget, QUOTE_FILL_SIZE_STEP)
            spent = sum((p * s for p, s in chunks), ZERO)
            complete = bool(chunks) and budget - spent <= chunks[-1][0] * QUOTE_FILL_SIZE_STEP
            for i, (price, size) in enumerate(chunks):
                fee = order.hold_remaining - price * size if complete and i == len(chunks) - 1 else None
                self._fill(order, market, now, price, size, rate, "TAKER", fee_override=fee, emit=False)
            return complete
        if spec.quote_size is not None:
            step = market.state.spec.base_increment
            chunks = walk_quote(levels, spec.quote_size, step)
            for price, size in chunks:
                size = min(size, order.hold_remaining)
                if size > 0:
                    self._fill(order, market, now, price, size, rate, "TAKER", emit=False)
            best = levels[0].price if levels else ZERO
            return order.filled_value >= spec.quote_size - best * step
        for price, size in walk_base(levels, order.leaves, limit, buying):
            self._fill(order, market, now, price, size, rate, "TAKER", emit=False)
        return order.status == "FILLED"

    def _fill(self, order: SimOrder, market: Market, now: datetime, price: Decimal, size: Decimal, rate: Decimal,
              liquidity: str, fee_override: Decimal | None = None, emit: bool = True) -> None:
        pspec = market.state.spec
        _value, fee = settle_fill(order, self.ledger, pspec.base_currency, pspec.quote_currency, price, size, rate,
                                  fee_override)
        order.last_fill_time = now
        fill = SimFill(entry_id=self.new_id(), trade_id=self.new_id(), order_id=order.order_id,
                       product_id=order.product_id, side=order.side, price=price, size=size, commission=fee,
                       liquidity_indicator=liquidity, trade_time=now, size_in_quote=order.size_in_quote)
        self.fills.append(fill)
        self.events.append(FillEvent(fill))
        trade = market.record_user_trade(now, price, size, "SELL" if order.is_buy else "BUY")
        self.events.append(TradeEvent(trade))
        if order.spec.base_size is not None and order.filled_size >= order.spec.base_size:
            order.status = "FILLED"
            order.pending_cancel = False
            order.cancel_due = None
            release_remaining_hold(order, self.ledger)
        if emit:
            self._changed(order)

    def _changed(self, order: SimOrder) -> None:
        if order.terminal:
            self._active.pop(order.order_id, None)
        order.version += 1
        self.events.append(OrderEvent(order.snapshot()))

    # ---- the passage of time ------------------------------------------------------------------------
    def tick(self, now: datetime) -> None:
        """Advance every price process one step, then fill, trigger, expire and finish cancels."""
        self.ticks += 1
        for pid in sorted(self.markets):
            market = self.markets[pid]
            trade = market.step(now)
            self._market_moved(market, now, trade)
        self.housekeeping(now)

    def set_price(self, product_id: str, price: Decimal, now: datetime, volume: Decimal = ZERO) -> None:
        """Jump the price; `volume` > 0 also prints a public trade of that size there (queue tests)."""
        market = self.markets[product_id]
        trade = market.jump(now, price, volume)
        self._market_moved(market, now, trade)
        self.housekeeping(now)

    def _market_moved(self, market: Market, now: datetime, trade: object) -> None:
        self.events.append(TickerEvent(market.product_id))
        self.events.append(BookEvent(market.product_id))
        if trade is not None:
            self.events.append(TradeEvent(trade))  # type: ignore[arg-type]
        self._work_resting(market, now, trade if isinstance(trade, MarketTrade) else None)

    def _work_resting(self, market: Market, now: datetime, trade: MarketTrade | None = None) -> None:
        price = market.price
        # Volume printed exactly at the price: it consumes resting queues at that level in time order.
        level_volume = trade.size if trade is not None and trade.price == price else ZERO
        resting = sorted((o for o in self._active.values()
                          if o.product_id == market.product_id and o.status in ("OPEN", "CANCEL_QUEUED")),
                         key=lambda o: (o.created_time, o.order_id))
        for order in resting:
            if order.trigger_status == "STOP_PENDING" and self._stop_hit(order, price):
                self._trigger(order, market, now)
                continue
            limit = order.working_price
            if limit is None or (order.spec.order_type == "STOP_LIMIT" and order.trigger_status == "STOP_PENDING"):
                continue
            through = price < limit if order.is_buy else price > limit
            touch = price == limit and self.config.fill_on_touch
            if through or touch:
                cap = quantize_down(self.config.maker_fill_notional_per_tick / limit, market.state.spec.base_increment)
                size = min(order.leaves, max(cap, market.state.spec.base_increment))
                if size > 0:
                    self._fill(order, market, now, limit, size, self.config.maker_fee_rate, "MAKER")
            elif price == limit and level_volume > 0:
                size, level_volume = queue_fill(order, level_volume, market.state.spec.base_increment)
                if size > 0:
                    self._fill(order, market, now, limit, size, self.config.maker_fee_rate, "MAKER")

    def _stop_hit(self, order: SimOrder, price: Decimal) -> bool:
        stop = order.spec.stop_price
        if stop is None:
            return False
        if order.spec.order_type == "BRACKET":
            return price <= stop if not order.is_buy else price >= stop
        return price >= stop if order.spec.stop_direction == "STOP_DIRECTION_STOP_UP" else price <= stop

    def _trigger(self, order: SimOrder, market: Market, now: datetime) -> None:
        order.trigger_status = "STOP_TRIGGERED"
        if order.spec.order_type == "BRACKET" and order.spec.stop_price is not None:
            slip = self.config.bracket_stop_slippage
            factor = 1 + slip if order.is_buy else 1 - slip
            order.working_price = quantize_to(order.spec.stop_price * factor, market.state.spec.price_increment)
        self._changed(order)
        before = order.number_of_fills
        self._take(order, market, now, limit=order.working_price)
        if order.number_of_fills != before:
            self._changed(order)

    def housekeeping(self, now: datetime) -> None:
        """Finish delayed cancels, expire GTD orders, release held-PENDING orders whose time has come."""
        for order in list(self._active.values()):
            if order.status == "CANCEL_QUEUED" and order.cancel_due is not None and order.cancel_due <= now:
                self._finalize_cancel(order)
            elif (order.status == "OPEN" and order.spec.end_time is not None and order.spec.end_time <= now):
                order.status, order.cancel_message = "EXPIRED", "Order expired"
                release_remaining_hold(order, self.ledger)
                self._changed(order)
            elif order.status == "PENDING" and order.pending_until is not None and order.pending_until <= now:
                self.release_pending(order.order_id, now)

    # ---- cancels ----------------------------------------------------------------------------------
    def cancel_orders(self, order_ids: list[str], now: datetime,
                      delay_s: float | None = None) -> list[CancelOutcome]:
        """Request cancels; with a delay the order lingers in CANCEL_QUEUED (and may still fill)."""
        delay = self.config.cancel_delay_s if delay_s is None else delay_s
        out = []
        for oid in order_ids:
            order = self.orders.get(oid)
            if order is None:
                out.append(CancelOutcome(oid, False, "UNKNOWN_CANCEL_ORDER"))
            elif order.status == "FILLED":
                out.append(CancelOutcome(oid, False, "ORDER_IS_FULLY_FILLED"))
            elif order.status == "CANCELLED" or order.pending_cancel:
                out.append(CancelOutcome(oid, False, "DUPLICATE_CANCEL_REQUEST"))
            elif order.terminal:
                out.append(CancelOutcome(oid, False, "INVALID_CANCEL_REQUEST"))
            else:
                order.pending_cancel = True
                if self.config.emit_cancel_queued or delay > 0:
                    order.status = "CANCEL_QUEUED"
                    self._changed(order)
                order.cancel_due = now + timedelta(seconds=delay)
                if delay <= 0:
                    self._finalize_cancel(order)
                out.append(CancelOutcome(oid, True))
        return out

    def _finalize_cancel(self, order: SimOrder) -> None:
        order.status, order.cancel_message = "CANCELLED", "User requested cancel"
        order.pending_cancel, order.cancel_due = False, None
        release_remaining_hold(order, self.ledger)
        self._changed(order)

    # ---- admin ------------------------------------------------------------------------------------
    def deposit(self, currency: str, amount: Decimal) -> None:
        self.ledger.deposit(currency, amount, self.new_id())

    def add_fill_correction(self, trade_id: str, trade_type: str, now: datetime) -> SimFill:
        """A REVERSAL/CORRECTION entry for an existing fill (R13); balances are not touched."""
        original = next(f for f in self.fills if f.trade_id == trade_id)
        fill = SimFill(entry_id=self.new_id(), trade_id=self.new_id(), order_id=original.order_id,
                       product_id=original.product_id, side=original.side, price=original.price,
                       size=original.size, commission=original.commission,
                       liquidity_indicator=original.liquidity_indicator, trade_time=now,
                       size_in_quote=original.size_in_quote, trade_type=trade_type)
        self.fills.append(fill)
        self.events.append(FillEvent(fill))
        return fill

    # ---- hooks for simulator.engine.edits / previews (kept public and small on purpose) ------------
    def validate_spec(self, spec: OrderSpec, side: str, market: Market, now: datetime) -> Rejection | None:
        """Steps 3–6 of create's validation for an already parsed spec (edits and previews reuse it)."""
        return self._validate(spec, side, market, now)

    def order_changed(self, order: SimOrder) -> None:
        """Record a change made outside this class (an edit): user-channel update, version bump."""
        self._changed(order)

    def take_now(self, order: SimOrder, market: Market, now: datetime) -> None:
        """Let an edited, now marketable limit cross the book as taker (one merged update)."""
        before = order.number_of_fills
        self._take(order, market, now, limit=order.working_price)
        if order.number_of_fills != before:
            self._changed(order)
