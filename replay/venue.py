"""The replay's exchange: the simulator's matching engine in-process, behind the daemon's ExchangePort.

No sockets and no SDK: each call asks the engine directly, renders the answer with the simulator's
own REST renderers and maps it back with the Coinbase adapter's own response mapping — so the
daemon sees exactly the values it would get from the simulator over HTTPS, minus the transport.
Prices move only when the replay driver calls `move`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.clock import Clock, format_rfc3339
from exchange.coinbase import rest_mapping as m
from exchange.models import (
    Balance,
    CancelResult,
    Candle,
    EditRequest,
    EditResult,
    FeeTier,
    Fill,
    KeyPermissions,
    Order,
    OrderRequest,
    OrderResult,
    Page,
    PreviewResult,
    Product,
    Quote,
)
from exchange.port import ExchangeBadRequest, ExchangeNotFound
from simulator.engine.edits import edit_order as sim_edit_order
from simulator.engine.edits import parse_edit_request
from simulator.engine.events import FillEvent, OrderEvent
from simulator.engine.matching import EngineConfig, MatchingEngine
from simulator.engine.orders import Rejection, SimFill
from simulator.engine.previews import preview_order as sim_preview_order
from simulator.engine.products import default_spec
from simulator.engine.types import CreateOutcome
from simulator.http.edit_bodies import edit_response, preview_response
from simulator.http.render import account_json, fill_json, order_json, product_json

if TYPE_CHECKING:
    from exchange.port import ExchangePort

PAGE = 250
TOPS_REMEMBERED = 200_000  # top_after_move's memory, cleared when full


class InProcessExchange:
    """ExchangePort over a MatchingEngine; the driver moves prices and collects touched orders."""

    def __init__(self, config: EngineConfig, products: dict[str, tuple[Decimal, Decimal]], clock: Clock,
                 initial_usd: Decimal) -> None:
        """`products`: product id → (first price, price tick of the data)."""
        specs = [replace(default_spec(pid, first), price_increment=min(tick, default_spec(pid).price_increment))
                 for pid, (first, tick) in sorted(products.items())]
        # A replay's database is new for each run, so seeded ids cannot collide with stored ones; they
        # keep the report byte-identical for one seed (the paper simulator's ids stay random).
        rng = random.Random(f"replay-ids-{config.seed}")
        self.engine = MatchingEngine(config, specs, clock.now(), {"USD": initial_usd},
                                     ids=lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        self._clock = clock
        self._fills_by_order: dict[str, list[SimFill]] = {}
        self._touched: dict[str, None] = {}  # order ids with news since the last collect, in order
        self._working: dict[str, set[str]] = {}  # product → its non-terminal orders (resting or pending)
        self._working_count = 0  # of all products (any_working is asked at every price point)
        self._behind: dict[str, tuple[Decimal, datetime]] = {}  # product → a deferred move (see `defer`)
        # Counts every order change and fill: a cancelled resting order changes the database's open
        # orders without adding an order or a fill (replay/run.py keys sighook's cached blockers on it).
        self.changes = 0
        # The engine's order of fills within one virtual second (see `_fill_json`).
        self._fill_seq: dict[str, int] = {}
        # top_after_move's answers: (product, price) → (the price as written, its top of book)
        self._tops: dict[tuple[str, Decimal], tuple[Decimal, tuple[Decimal | None, Decimal]]] = {}
        self._balances: tuple[tuple[tuple[str, str, Decimal, Decimal], ...], dict[str, Balance]] | None = None
        self._seq_second: tuple[datetime, int] | None = None
        self._absorb()

    # ---- driver side ---------------------------------------------------------------------------
    def move(self, product_id: str, price: Decimal, at: datetime | None = None) -> None:
        """The market trades at `price` now (or `at`): resting orders and stops are worked against it."""
        self._behind.pop(product_id, None)  # a later trade supersedes one not applied yet
        self.engine.set_price(product_id, price, self._clock.now() if at is None else at)
        self._absorb()

    def defer(self, product_id: str, price: Decimal, at: datetime) -> None:
        """The market traded at `price` at `at`, but nothing reads it yet: the move is applied, at its own
        time, when something next reads or trades `product_id` here (or at `catch_up()`).

        Only while no order rests anywhere (the caller's rule): then the move works no order, and the
        engine's housekeeping at that earlier time has nothing to do for orders placed since (their cancel,
        expiry and release times all lie after their creation). Products do not interact in the engine."""
        self._behind[product_id] = (price, at)

    def catch_up(self, product_ids: Iterable[str] | None = None) -> None:
        """Apply the deferred moves of `product_ids` (all when None)."""
        for pid in list(self._behind) if product_ids is None else product_ids:
            pending = self._behind.pop(pid, None)
            if pending is not None:
                self.engine.set_price(pid, pending[0], pending[1])
                self._absorb()

    def tick_size(self, product_id: str) -> Decimal:
        return self.engine.markets[product_id].state.spec.price_increment

    def top_of_book(self, product_id: str) -> tuple[Decimal | None, Decimal | None]:
        self.catch_up((product_id,))
        return self.engine.markets[product_id].top_prices()

    def top_after_move(self, product_id: str, price: Decimal) -> tuple[Decimal | None, Decimal | None]:
        """What top_of_book would answer right after move(product_id, price), without moving. A function of
        the price alone (the book re-centres on every jump, its spec and depth fixed): remembered per price,
        which a random walk on a price grid revisits often. Per price as written: 1000 and 1000.00 are one
        key but give 999.9 and 999.90 (the grid keeps a price's places), so a hit must have the same exponent."""
        key = (product_id, price)
        known = self._tops.get(key)
        if known is not None and known[0].same_quantum(price):
            return known[1]
        if len(self._tops) >= TOPS_REMEMBERED:
            self._tops.clear()
        top = self.engine.markets[product_id].top_prices_after_jump(price)
        self._tops[key] = (price, top)
        return top

    def collect(self) -> list[str]:
        """Order ids whose state changed since the last call (the user channel's prompts)."""
        out = list(self._touched)
        self._touched.clear()
        return out

    def has_working_orders(self, product_id: str) -> bool:
        return bool(self._working.get(product_id))

    def any_working(self) -> bool:
        """Any non-terminal order on any product."""
        return self._working_count > 0

    def pending(self) -> bool:
        return bool(self._touched)

    def _absorb(self) -> None:
        for event in self.engine.drain_events():
            if isinstance(event, OrderEvent):
                self.changes += 1
                order = event.order
                self._touched[order.order_id] = None
                working = self._working.setdefault(order.product_id, set())
                if order.terminal:
                    if order.order_id in working:
                        working.discard(order.order_id)
                        self._working_count -= 1
                elif order.order_id not in working:
                    working.add(order.order_id)
                    self._working_count += 1
            elif isinstance(event, FillEvent):
                self.changes += 1
                self._number(event.fill)
                self._fills_by_order.setdefault(event.fill.order_id, []).append(event.fill)
                self._touched[event.fill.order_id] = None

    def _number(self, fill: SimFill) -> None:
        at, n = self._seq_second if self._seq_second is not None else (fill.trade_time, -1)
        n = n + 1 if at == fill.trade_time else 0
        self._seq_second = (fill.trade_time, n)
        self._fill_seq[fill.trade_id] = n

    def _fill_json(self, fill: SimFill) -> dict[str, Any]:
        """The simulator's fill body, its sequence_timestamp `n` µs after the trade time for the engine's
        n-th fill of that instant. Over HTTPS the simulator's trade times are wall-clock microseconds;
        the virtual clock's whole seconds would tie a fill and the exit it prompted (a post-only buy
        filled and sold by the hard stop at the same point), and FIFO orders ties by sequence time,
        then trade id — which can put the sell first."""
        body = fill_json(fill, self.engine.config.user_id)
        seq = fill.trade_time + timedelta(microseconds=self._fill_seq.get(fill.trade_id, 0))
        body["sequence_timestamp"] = format_rfc3339(seq)
        return body

    # ---- ExchangePort --------------------------------------------------------------------------
    async def get_products(self) -> list[Product]:
        self.catch_up()
        now = self._clock.now()
        return [m.product_from(product_json(mk, now)) for _, mk in sorted(self.engine.markets.items())]

    async def get_product(self, product_id: str) -> Product:
        self.catch_up((product_id,))
        market = self.engine.market(product_id)
        if market is None:
            raise ExchangeNotFound(f"unknown product {product_id}")
        return m.product_from(product_json(market, self._clock.now()))

    async def get_balances(self) -> dict[str, Balance]:
        # The wallets' figures key the answer: the same figures give the same Balance values (they carry
        # no time), so a repeat (an entry reads them twice) is not rendered and parsed again.
        key = tuple((w.currency, w.uuid, w.available, w.hold) for w in self.engine.ledger.wallets.values())
        if self._balances is not None and self._balances[0] == key:
            return dict(self._balances[1])
        now, portfolio = self._clock.now(), self.engine.config.portfolio_id
        balances = m.balances_from([account_json(w, portfolio, now) for w in self.engine.ledger.wallets.values()])
        self._balances = (key, balances)
        return dict(balances)

    async def get_best_bid_ask(self, product_ids: Sequence[str]) -> list[Quote]:
        self.catch_up(product_ids or None)
        now = self._clock.now()
        out = []
        for pid in product_ids or sorted(self.engine.markets):
            market = self.engine.market(pid)
            if market is None:
                continue
            bid, ask = market.top_of_book()
            if bid is not None and ask is not None:
                out.append(Quote(product_id=pid, bid=bid.price, ask=ask.price, time=now, bid_size=bid.size,
                                 ask_size=ask.size))
        return out

    async def get_candles(self, product_id: str, start: datetime, end: datetime, granularity: str) -> list[Candle]:
        raise ExchangeBadRequest("a replay's candles come from its data files, not from the venue")

    async def create_order(self, request: OrderRequest) -> OrderResult:
        if not request.client_order_id:
            raise ExchangeBadRequest("create_order needs a client_order_id")
        try:
            config = m.order_configuration_for(request)
        except ValueError as exc:
            raise ExchangeBadRequest(str(exc)) from exc
        self.catch_up((request.product_id,))
        outcome = self.engine.create_order(request.client_order_id, request.product_id, request.side.value, config,
                                           self._clock.now())
        self._absorb()
        return m.order_result_from(_create_response(outcome), request.client_order_id)

    async def cancel_orders(self, order_ids: Sequence[str]) -> list[CancelResult]:
        results = self.engine.cancel_orders(list(dict.fromkeys(order_ids)), self._clock.now())
        self._absorb()
        return [CancelResult(r.order_id, r.success, None if r.success else r.failure_reason) for r in results]

    async def edit_order(self, request: EditRequest) -> EditResult:
        """The simulator's edit, answered with its own REST body and read by the adapter's mapping."""
        self.catch_up()  # the edited order's market must be current (deferred moves are rare and cheap)
        outcome = sim_edit_order(self.engine, parse_edit_request(m.edit_body(request)), self._clock.now())
        self._absorb()
        return m.edit_result_from(edit_response(outcome), request.order_id)

    async def preview_order(self, request: OrderRequest) -> PreviewResult:
        try:
            config = m.order_configuration_for(request)
        except ValueError as exc:
            raise ExchangeBadRequest(str(exc)) from exc
        self.catch_up((request.product_id,))
        outcome = sim_preview_order(self.engine, request.product_id, request.side.value, config, self._clock.now())
        return m.preview_result_from(preview_response(outcome))

    async def get_order(self, order_id: str) -> Order:
        order = self.engine.orders.get(order_id)
        if order is None:
            raise ExchangeNotFound(f"order {order_id} not found")
        cfg = self.engine.config
        return m.order_from(order_json(order, cfg.user_id, cfg.portfolio_id))

    async def list_orders(self, product_id: str | None = None, statuses: Sequence[str] = (),
                          cursor: str | None = None, limit: int = 250) -> Page[Order]:
        wanted = {str(s).upper() for s in statuses}
        orders = sorted((o for o in self.engine.orders.values()
                         if (not wanted or o.status in wanted) and (product_id is None or o.product_id == product_id)),
                        key=lambda o: (o.created_time, o.order_id), reverse=True)
        offset = int(cursor or 0)
        page = orders[offset:offset + limit]
        more = offset + limit < len(orders)
        cfg = self.engine.config
        return Page([m.order_from(order_json(o, cfg.user_id, cfg.portfolio_id)) for o in page],
                    str(offset + limit) if more else None, more)

    async def list_fills(self, order_ids: Sequence[str] = (), product_id: str | None = None,
                         start: datetime | None = None, cursor: str | None = None,
                         limit: int = 250) -> Page[Fill]:
        if order_ids:
            fills = [f for oid in order_ids for f in self._fills_by_order.get(oid, ())]
        else:
            fills = list(self.engine.fills)
        fills = [f for f in fills if (product_id is None or f.product_id == product_id)
                 and (start is None or f.trade_time >= start)]
        offset = int(cursor or 0)
        page = fills[offset:offset + limit]
        more = offset + limit < len(fills)
        return Page([m.fill_from(self._fill_json(f)) for f in page], str(offset + limit) if more else None, more)

    async def get_fee_tier(self) -> FeeTier:
        cfg = self.engine.config
        return FeeTier(maker_rate=cfg.maker_fee_rate, taker_rate=cfg.taker_fee_rate, tier_name="replay")

    async def get_key_permissions(self) -> KeyPermissions:
        return KeyPermissions(can_view=True, can_trade=True, can_transfer=False,
                              portfolio_uuid=self.engine.config.portfolio_id)

    async def get_server_time(self) -> datetime:
        return self._clock.now()


def _create_response(outcome: CreateOutcome) -> dict[str, Any]:
    """The simulator's create-order body (simulator/http/routes_orders.py), without HTTP."""
    if outcome.order is not None:
        order = outcome.order
        return {"success": True, "order_id": order.order_id,
                "success_response": {"order_id": order.order_id, "product_id": order.product_id,
                                     "side": order.side, "client_order_id": order.client_order_id}}
    rej = outcome.rejection or Rejection("UNKNOWN_FAILURE_REASON", "UNKNOWN_PREVIEW_FAILURE_REASON", "")
    return {"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "",
            "error_response": {"error": rej.error, "message": rej.message, "error_details": rej.error_details,
                               "preview_failure_reason": rej.preview_failure_reason,
                               "new_order_failure_reason": rej.error}}


if TYPE_CHECKING:
    def _conforms(x: InProcessExchange) -> ExchangePort:
        return x
