"""The working-order desk: the one owner of every resting entry and exit of this process.

`start_entry` / `start_exit` send the first child and return at once; `step_all` (called by `run`
every WORKING_POLL_INTERVAL_S, or by tests and replays directly) looks at each working order once
and re-prices, cancels at the TTL, escalates or finishes it. Passive quoting (issue #20) can add a
purpose beside entry and exit on the same desk.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.enums import ExitReason, OrderSource, Side
from core.logging import get_logger
from core.settings import Settings
from exchange.port import ExchangeError, ExchangePort
from risk.momentum import EntryRefusalCode, red_day_refusal
from shared_data import order_store
from shared_data.db import read_session
from webhook.order_intent import OrderIntent, client_order_id
from webhook.order_manager import OrderManager, PlaceResult
from webhook.working_orders import entry, exit, store, unsure
from webhook.working_orders.book_cache import BookCache
from webhook.working_orders.context import WorkContext
from webhook.working_orders.placer import ChildPlacer, NotRecorded, RetryPolicy
from webhook.working_orders.policy import base_size_for_quote, entry_limit_price
from webhook.working_orders.types import EntryOrderType, Purpose, WorkingOrder, WorkingState
from webhook.working_orders.waits import wait

log = get_logger(__name__)


# Refusals by an entry rule (not an execution failure): the alert is recorded as refused by risk.
RISK_REFUSALS = frozenset(c.value for c in EntryRefusalCode)


def working_order_id(intent_key: str) -> str:
    return "wo-" + hashlib.sha256(intent_key.encode()).hexdigest()[:32]


def _open_order(intent: OrderIntent, coid0: str) -> PlaceResult:
    return PlaceResult(False, coid0, error="OPEN_ORDER_SAME_SIDE",
                       detail=f"an open {intent.side.value} order exists for {intent.symbol}")


class WorkingOrderDesk:
    def __init__(self, exchange: ExchangePort, orders: OrderManager, sessions: async_sessionmaker[AsyncSession],
                 settings: Settings, clock: Clock, settle: Callable[[str], Awaitable[object]],
                 on_exit_done: Callable[[str, bool], None] | None = None) -> None:
        books = BookCache(exchange, clock, settings.book_cache_ttl_s)
        retry = RetryPolicy(settings.placement_max_retries, settings.placement_backoff_base_s,
                            settings.placement_backoff_max_s)
        # Every child's client_order_id (claimed before it is sent) and order id (as soon as known):
        # the fill path can see a child — an escalated market sell fills at once — before its answer.
        self._owned: set[str] = set()
        placer = ChildPlacer(orders, sessions, books, clock, retry, self._note, claim=self._owned.add)
        self._ctx = WorkContext(exchange=exchange, orders=orders, sessions=sessions, settings=settings, clock=clock,
                                books=books, placer=placer, settle=settle)
        self._on_exit_done = on_exit_done
        self._on_exit_settled: Callable[[str, Decimal | None], object] | None = None
        self._working: dict[str, WorkingOrder] = {}
        self._lock = asyncio.Lock()
        # One coroutine at a time per working order (the poll loop, or the sentinel escalating it).
        self._wo_locks: dict[str, asyncio.Lock] = {}

    def _note(self, wo: WorkingOrder, step: object) -> None:
        self._ctx.note(wo, step)  # type: ignore[arg-type]

    def reconfigure(self, settings: Settings) -> None:
        """Use new execution settings for orders started from now on (a config reload; tests rotate
        ENTRY_ORDER_TYPE this way). Orders already working keep their own deadlines."""
        self._ctx.settings = settings

    def set_exit_listener(self, on_exit_done: Callable[[str, bool], None],
                          on_exit_settled: Callable[[str, Decimal | None], object] | None = None) -> None:
        """`on_exit_done(symbol, filled)`: the whole exit ended (the sentinel's in-flight gate).
        `on_exit_settled(working_order_id, pnl)`: count its realized P&L once, over all its children: `pnl`
        as the save of its final state read it; None when it did not (that save failed) or no child had a
        P&L then (the callee reads it from the database, as it did for every exit before)."""
        self._on_exit_done = on_exit_done
        self._on_exit_settled = on_exit_settled

    @property
    def books(self) -> BookCache:
        return self._ctx.books

    def owns(self, order_id: str, client_order_id: str | None = None) -> bool:
        """Is this exchange order a child of a working order (its ends are the desk's business)?"""
        return order_id in self._owned or (client_order_id is not None and client_order_id in self._owned)

    def working(self) -> list[WorkingOrder]:
        return list(self._working.values())

    def has_working(self) -> bool:
        """Whether any working order is in flight (a replay asks at every price point)."""
        return bool(self._working)

    def working_exit(self, symbol: str) -> WorkingOrder | None:
        return next((w for w in self._working.values() if w.purpose is Purpose.EXIT and w.symbol == symbol), None)

    # ---- entries ----------------------------------------------------------------------------
    def entry_type_for(self, source: OrderSource) -> EntryOrderType:
        return EntryOrderType(self._ctx.settings.entry_order_type_for(source.value))

    async def start_entry(self, intent: OrderIntent, order_type: EntryOrderType | None = None) -> PlaceResult:
        """Work a buy intent on the book; sized in base units on the product's increment."""
        ctx = self._ctx
        kind = order_type or self.entry_type_for(intent.source)
        coid0 = client_order_id(intent.intent_key)
        async with self._lock:
            wo_id = working_order_id(intent.intent_key)
            # Whether this intent was started before, or an open order of its side exists, is asked by the
            # statement that records it (ChildPlacer._record). Any other refusal asks first (_answered),
            # so the answer stays what it was: a replayed intent is a duplicate, an open order comes next.
            if any(w.symbol == intent.symbol and w.side is intent.side for w in self._working.values()):
                return await self._answered(wo_id, intent, coid0) or _open_order(intent, coid0)
            try:
                product = await ctx.product(intent.symbol)
                top = await ctx.books.top(intent.symbol, fresh=True)
                fee = await ctx.orders.fee_tier()  # the rates entry sizing checked the caps with
            except ExchangeError as exc:
                return await self._answered(wo_id, intent, coid0) or PlaceResult(
                    False, coid0, error="EXCHANGE_UNAVAILABLE", detail=str(exc))
            if top is None:
                return await self._answered(wo_id, intent, coid0) or PlaceResult(
                    False, coid0, error="NO_BOOK", detail=f"no bid/ask for {intent.symbol}")
            refusal = red_day_refusal(intent.symbol, product.price_change_24h_pct,
                                      ctx.settings.allow_buys_on_red_day)
            if refusal is not None:
                if (answered := await self._answered(wo_id, intent, coid0)) is not None:
                    return answered
                log.info("entry_refused", symbol=intent.symbol, code=refusal.code.value, detail=refusal.detail)
                return PlaceResult(False, coid0, error=refusal.code.value, detail=refusal.detail)
            size = intent.base_size
            if size is None:
                assert intent.quote_size is not None
                price = entry_limit_price(kind, intent.side, top, product.price_increment) or top.ask
                if intent.limit_price is not None:  # sized at the checked ceiling: any fill below it costs less
                    price = max(price, intent.limit_price)
                rate = fee.taker_rate if kind is not EntryOrderType.POST_ONLY else fee.maker_rate
                size = base_size_for_quote(intent.quote_size, price, rate, product.base_increment)
            size = size - size % product.base_increment
            if size <= 0 or size < product.base_min_size:
                return await self._answered(wo_id, intent, coid0) or PlaceResult(
                    False, coid0, error="SIZE_TOO_SMALL",
                    detail=f"{size} < min {product.base_min_size} {product.base_currency}")
            now = ctx.clock.now()
            wo = WorkingOrder(id=wo_id, intent_key=intent.intent_key, purpose=Purpose.ENTRY, symbol=intent.symbol,
                              side=intent.side, order_type=kind, source=intent.source, target_size=size,
                              started_at=now, deadline_at=None, trigger=dict(intent.trigger),
                              price_ceiling=intent.limit_price, stored=False)
            if intent.limit_price is not None:  # kept with the row (its trigger) for a restart
                wo.trigger["price_ceiling"] = format(intent.limit_price, "f")
            entry.deadline(ctx, wo)
            try:  # its row is written with its first child's intent (ChildPlacer._record)
                ok, error = await entry.place_first(ctx, wo, top)
            except NotRecorded as refused:  # nothing was written, noted or sent
                return await self._duplicate(coid0) if refused.started else _open_order(intent, coid0)
            if not ok:
                return PlaceResult(False, coid0, error=(error or "FAILED").split(":")[0], detail=error)
            self._adopt(wo)
            if kind is EntryOrderType.MARKET:
                # A market child is done at once (filled or not): look now, so the entry does not stay
                # "working" — blocking the next entry of the symbol — until the next poll.
                await self._step_one(wo)
            return PlaceResult(True, wo.client_order_id or coid0, order_id=wo.order_id)

    async def _answered(self, wo_id: str, intent: OrderIntent, coid0: str) -> PlaceResult | None:
        """The answer to an intent already started (a duplicate) or beside an open order of its side."""
        started, open_order = await store.exists_and_open_order(self._ctx.sessions, wo_id, intent.symbol,
                                                                intent.side)
        if started:
            return await self._duplicate(coid0)
        return _open_order(intent, coid0) if open_order else None

    async def _duplicate(self, coid0: str) -> PlaceResult:
        """A replayed intent (rare): its first child's order id for the answer."""
        async with read_session(self._ctx.sessions) as session:
            row = await order_store.find_by_client_order_id(session, coid0)
        return PlaceResult(True, coid0, order_id=row.order_id if row else None, duplicate=True)

    # ---- exits ------------------------------------------------------------------------------
    @property
    def rests_exits(self) -> bool:
        return self._ctx.settings.exit_order_style == "resting"

    def hard_stop_price(self, entry_price: Decimal) -> Decimal | None:
        """Where a resting exit stops waiting: the hard stop's price level."""
        if entry_price <= 0:
            return None
        return entry_price * (100 + self._ctx.settings.stop_loss_hard_pct) / 100

    async def start_exit(self, *, symbol: str, size: Decimal, intent_key: str, reason: ExitReason,
                         target_price: Decimal, quote_price: Decimal, hard_stop_price: Decimal | None,
                         trigger: dict[str, object]) -> PlaceResult:
        ctx = self._ctx
        coid0 = client_order_id(intent_key)
        try:
            product = await ctx.product(symbol)
            top = await ctx.books.top(symbol, fresh=True)
        except ExchangeError as exc:
            return PlaceResult(False, coid0, error="EXCHANGE_UNAVAILABLE", detail=str(exc))
        if top is None:
            return PlaceResult(False, coid0, error="NO_BOOK", detail=f"no bid/ask for {symbol}")
        size = size - size % product.base_increment
        if size <= 0 or size < product.base_min_size:
            return PlaceResult(False, coid0, error="SIZE_TOO_SMALL", detail=f"{size} < min {product.base_min_size}")
        now = ctx.clock.now()
        wo = WorkingOrder(id=working_order_id(intent_key), intent_key=intent_key, purpose=Purpose.EXIT,
                          symbol=symbol, side=Side.SELL, order_type=EntryOrderType.LIMIT, source=OrderSource.WEBHOOK,
                          target_size=size, started_at=now, deadline_at=None, trigger=dict(trigger),
                          exit_reason=reason, exit_target_price=target_price, exit_quote_price=quote_price,
                          hard_stop_price=hard_stop_price)
        exit.deadline(ctx, wo)
        if exit.escalates_at_once(wo, top):  # (rare) it may send nothing (dust): its row first, as it was
            if not await store.insert(ctx.sessions, wo, now):
                return PlaceResult(True, coid0, duplicate=True)
        else:
            wo.stored = False  # its row is written with its first child's intent (ChildPlacer._record)
        try:
            ok, error = await exit.place_first(ctx, wo, top)
        except NotRecorded:  # recorded before: nothing was written, noted or sent
            return PlaceResult(True, coid0, duplicate=True)
        if not ok:
            return PlaceResult(False, coid0, error=(error or "FAILED").split(":")[0], detail=error)
        self._adopt(wo)
        if wo.order_id is None and wo.unsure_coid is None:  # nothing could be ordered (dust): done already
            self._working.pop(wo.id, None)
        return PlaceResult(True, wo.client_order_id or coid0, order_id=wo.order_id)

    # ---- the loop ---------------------------------------------------------------------------
    def _adopt(self, wo: WorkingOrder) -> None:
        self._working[wo.id] = wo
        self._owned.update(wo.child_ids)
        self._owned.update(c for c in (wo.client_order_id, wo.unsure_coid) if c is not None)

    async def step_all(self) -> int:
        """Look at every working order once; returns how many are still working."""
        for wo in list(self._working.values()):
            await self._step_one(wo)
        return len(self._working)

    async def _step_one(self, wo: WorkingOrder) -> None:
        async with self._wo_lock(wo):
            if wo.state.is_final:
                self._working.pop(wo.id, None)
                return
            try:
                if not await unsure.settle(self._ctx, wo):
                    pass  # a child in doubt: nothing else is done until the exchange tells its fate
                elif wo.purpose is Purpose.ENTRY:
                    await entry.step(self._ctx, wo)
                else:
                    await exit.step(self._ctx, wo, self._on_exit_done)
            except Exception:
                log.exception("working_order_step_failed", working_order_id=wo.id, symbol=wo.symbol)
            self._owned.update(wo.child_ids)
            if wo.state.is_final:
                self._ended(wo)

    def _ended(self, wo: WorkingOrder) -> None:
        self._working.pop(wo.id, None)
        self._wo_locks.pop(wo.id, None)
        if wo.purpose is Purpose.EXIT and wo.filled_size > 0 and self._on_exit_settled is not None:
            self._on_exit_settled(wo.id, wo.realized_pnl)

    def _wo_lock(self, wo: WorkingOrder) -> asyncio.Lock:
        return self._wo_locks.setdefault(wo.id, asyncio.Lock())

    async def escalate_exit(self, symbol: str, why: str) -> PlaceResult | None:
        """The sentinel decided a market exit (hard stop) while an exit of `symbol` rests here: turn
        that exit into the market order now instead of a second, competing sell. None when no exit
        of `symbol` is working."""
        wo = self.working_exit(symbol)
        if wo is None:
            return None
        async with self._wo_lock(wo):
            if await unsure.settle(self._ctx, wo):  # never a market sell beside a child in doubt
                await exit.escalate_now(self._ctx, wo, why, self._on_exit_done)
            self._owned.update(wo.child_ids)
            if wo.state.is_final:
                self._ended(wo)
        return PlaceResult(True, wo.client_order_id or "", order_id=wo.order_id)

    async def recover(self) -> int:
        """Adopt the working orders a previous run left (a crash or restart): this run re-prices,
        times out and escalates them as if it had placed them."""
        async with self._ctx.sessions() as session:
            found = await store.load_working(session)
        for wo in found:
            if wo.id not in self._working:
                self._adopt(wo)
                log.info("working_order_recovered", working_order_id=wo.id, symbol=wo.symbol,
                         purpose=wo.purpose.value, order_id=wo.order_id, filled=format(wo.filled_size, "f"))
        return len(found)

    async def run(self, stop: asyncio.Event) -> None:
        interval = self._ctx.settings.working_poll_interval_s
        await self.recover()
        while not stop.is_set():
            await self.step_all()
            await wait(self._ctx.clock, interval, stop)
        # Shutdown leaves resting orders on the book: the reconciler adopts their fills on restart.
        if self._working:
            log.warning("working_orders_left_resting", ids=[w.id for w in self._working.values()])


__all__ = ["WorkingOrderDesk", "WorkingState", "working_order_id"]
