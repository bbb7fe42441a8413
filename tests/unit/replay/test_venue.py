"""The replay venue's fills keep the engine's order inside one virtual second (FIFO's total order)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from core.enums import Side
from exchange.models import OrderKind, OrderRequest
from fifo_engine.model import fill_key
from replay.clock import VirtualClock
from replay.venue import InProcessExchange
from simulator.engine.types import EngineConfig
from webhook.fill_recorder import to_fact


async def test_fills_of_one_virtual_second_sort_in_the_engine_order() -> None:
    clock = VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))
    venue = InProcessExchange(EngineConfig(), {"BTC-USD": (Decimal("100.00"), Decimal("0.01"))}, clock,
                              Decimal("10000"))
    clock.advance(60)
    # A resting bid filled by the market trading through it, then sells and buys at that same instant:
    # (a post-only entry filled at a point, and the hard stop the sentinel sends on that point).
    await venue.create_order(OrderRequest(client_order_id="bid", product_id="BTC-USD", side=Side.BUY,
                                          kind=OrderKind.LIMIT_GTC, base_size=Decimal("1"),
                                          limit_price=Decimal("99.99"), post_only=True))
    venue.move("BTC-USD", Decimal("95.00"))
    for i, side in enumerate([Side.SELL, Side.BUY, Side.SELL, Side.BUY, Side.SELL, Side.SELL]):
        await venue.create_order(OrderRequest(client_order_id=f"m{i}", product_id="BTC-USD", side=side,
                                              kind=OrderKind.MARKET, base_size=Decimal("0.2")))
    engine_order = [f.trade_id for f in venue.engine.fills]
    fills = (await venue.list_fills()).items
    assert len(fills) == 7 and {f.trade_time for f in fills} == {clock.now()}
    assert [f.trade_id for f in fills] == engine_order
    assert [f.trade_id for f in sorted(fills, key=lambda f: fill_key(to_fact(f)))] == engine_order
    assert [f.sequence_timestamp for f in fills] == sorted({f.sequence_timestamp for f in fills})
    # The trade ids alone would not give that order (they are random; FIFO breaks ties by them last).
    assert sorted(engine_order) != engine_order


async def test_a_deferred_move_is_what_a_move_would_have_been_once_read() -> None:
    """`top_after_move` predicts the book a move would give; a deferred move is applied, at its own time,
    by the first read of that product (and only that product), and a later move supersedes it."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    products = {"BTC-USD": (Decimal("100.00"), Decimal("0.01")), "ETH-USD": (Decimal("50.00"), Decimal("0.01"))}
    clock, twin_clock = VirtualClock(start), VirtualClock(start)
    venue = InProcessExchange(EngineConfig(), products, clock, Decimal("10000"))
    twin = InProcessExchange(EngineConfig(), products, twin_clock, Decimal("10000"))
    # Twice over: the second time each answer is the remembered one, and must still be what a move gives
    # (after the book was consumed and re-centred in between).
    # Equal prices written with other places give other answers (999.9 and 999.90): each as a move gives it.
    for price in ("101.37", "0.02", "99999.99", "100.004", "1000", "1000.00", "1000.0", "1E+3") * 2:
        predicted = venue.top_after_move("BTC-USD", Decimal(price))
        twin.move("BTC-USD", Decimal(price))
        actual = twin.top_of_book("BTC-USD")
        assert predicted == actual and repr(predicted) == repr(actual), price
    clock.advance(30)
    twin_clock.advance(30)
    venue.defer("BTC-USD", Decimal("102.00"), clock.now())
    twin.move("BTC-USD", Decimal("102.00"))
    clock.advance(30)
    twin_clock.advance(30)
    assert venue.engine.markets["BTC-USD"].price != Decimal("102.00")  # not applied yet
    assert venue.top_of_book("ETH-USD") == twin.top_of_book("ETH-USD")  # another product's read
    assert venue.engine.markets["BTC-USD"].price != Decimal("102.00")
    quotes = await venue.get_best_bid_ask(["BTC-USD"])
    assert (quotes[0].bid, quotes[0].ask) == twin.top_of_book("BTC-USD")
    assert venue.engine.markets["BTC-USD"].last_time == start.replace(second=30)  # at its own time
    venue.defer("ETH-USD", Decimal("51.00"), clock.now())
    venue.move("ETH-USD", Decimal("49.00"))  # a later trade: the deferred one is dropped
    venue.catch_up()
    assert venue.engine.markets["ETH-USD"].price == Decimal("49.00")


async def test_balances_follow_every_hold_and_fill() -> None:
    """get_balances answers a repeat from its last answer only while every wallet figure is unchanged:
    an order's hold, its fill and its cancel each show at once."""
    clock = VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))
    venue = InProcessExchange(EngineConfig(), {"BTC-USD": (Decimal("100.00"), Decimal("0.01"))}, clock,
                              Decimal("10000"))

    async def usd() -> tuple[Decimal, Decimal]:
        b = (await venue.get_balances())["USD"]
        return b.available, b.hold

    first = await venue.get_balances()
    first["USD"] = first["BTC"]  # a caller's change to its copy reaches nobody else
    assert await usd() == (Decimal("10000"), Decimal("0"))
    await venue.create_order(OrderRequest(client_order_id="bid", product_id="BTC-USD", side=Side.BUY,
                                          kind=OrderKind.LIMIT_GTC, base_size=Decimal("1"),
                                          limit_price=Decimal("90.00"), post_only=True))
    available, hold = await usd()
    assert hold > 0 and available == Decimal("10000") - hold  # the resting bid's hold
    venue.move("BTC-USD", Decimal("89.00"))  # trades through the bid: filled
    balances = await venue.get_balances()
    assert balances["BTC"].total == Decimal("1") and balances["USD"].hold == 0
    await venue.create_order(OrderRequest(client_order_id="ask", product_id="BTC-USD", side=Side.SELL,
                                          kind=OrderKind.LIMIT_GTC, base_size=Decimal("0.5"),
                                          limit_price=Decimal("120.00"), post_only=True))
    assert (await venue.get_balances())["BTC"].hold == Decimal("0.5")
    await venue.cancel_orders([o.order_id for o in venue.engine.orders.values() if o.client_order_id == "ask"])
    assert (await venue.get_balances())["BTC"].hold == 0


async def test_top_of_book_answers_the_prices_of_the_engine_s_top_levels() -> None:
    """The venue's quote prices are those of the engine's top levels (sizes aside): on a book re-centred by a
    move (not built), on one built and partly consumed, and where the bid would fall to zero or below."""
    clock = VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))
    venue = InProcessExchange(EngineConfig(), {"BTC-USD": (Decimal("100.00"), Decimal("0.01"))}, clock,
                              Decimal("10000"))
    market = venue.engine.markets["BTC-USD"]

    def levels() -> tuple[Decimal | None, Decimal | None]:
        bid, ask = market.top_of_book()
        return (bid.price if bid else None, ask.price if ask else None)

    for price in ("101.37", "0.01", "0.02", "99999.99", "100.004", "7", "7.000"):
        venue.move("BTC-USD", Decimal(price))
        got = venue.top_of_book("BTC-USD")
        assert got == levels() and repr(got) == repr(levels()), price
        book = market.book  # built now: the answer comes from its levels
        for side in (book.bids, book.asks):
            if side:
                side[0].size = Decimal(0)  # the best level taken, as a taker's fill leaves it
        got = venue.top_of_book("BTC-USD")
        assert got == levels() and repr(got) == repr(levels()), price


async def test_any_working_follows_every_product_s_orders() -> None:
    clock = VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))
    products = {"BTC-USD": (Decimal("100.00"), Decimal("0.01")), "ETH-USD": (Decimal("50.00"), Decimal("0.01"))}
    venue = InProcessExchange(EngineConfig(), products, clock, Decimal("10000"))

    def check() -> bool:
        assert venue.any_working() == any(venue.has_working_orders(p) for p in products)
        return venue.any_working()

    assert not check()
    ids = []
    for pid, limit in (("BTC-USD", "99.00"), ("ETH-USD", "49.00"), ("BTC-USD", "98.00")):
        result = await venue.create_order(OrderRequest(client_order_id=f"bid-{len(ids)}", product_id=pid,
                                                       side=Side.BUY, kind=OrderKind.LIMIT_GTC,
                                                       base_size=Decimal("1"), limit_price=Decimal(limit),
                                                       post_only=True))
        ids.append(result.order_id)
        assert check()
    venue.move("BTC-USD", Decimal("98.50"))  # fills the first bid: it ends, the other BTC one still rests
    assert check() and venue.engine.orders[ids[0]].terminal and venue.has_working_orders("BTC-USD")
    await venue.cancel_orders([ids[1], ids[1]])
    assert check() and not venue.has_working_orders("ETH-USD")
    venue.move("BTC-USD", Decimal("97.00"))
    assert not check()
