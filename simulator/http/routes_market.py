"""Products, candles, market trades, best bid/ask, product book, server time (+ the public /market mirrors)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from aiohttp import web

from core.money import fmt
from simulator.engine.candles import GRANULARITIES
from simulator.http.common import PREFIX, ctx_of
from simulator.http.errors import invalid_argument, json_response, not_found
from simulator.http.params import Query
from simulator.http.render import candle_json, level_json, pricebook_json, product_json, ts

UNKNOWN_PRODUCT = "valid product_id is required"


async def list_products(request: web.Request) -> web.Response:
    ctx, q = ctx_of(request), Query(request.query)
    wanted = q.many("product_ids")
    product_type = q.one("product_type")
    limit = q.integer("limit", 0, minimum=0)
    offset = q.integer("offset", 0, minimum=0)
    now = ctx.now()
    markets = [m for pid, m in sorted(ctx.engine.markets.items()) if not wanted or pid in wanted]
    if product_type not in (None, "SPOT", "UNKNOWN_PRODUCT_TYPE"):
        markets = []
    total = len(markets)
    markets = markets[offset:offset + limit] if limit else markets[offset:]
    return json_response({"products": [product_json(m, now) for m in markets], "num_products": total})


async def get_product(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    market = ctx.engine.market(request.match_info["product_id"])
    if market is None:
        return not_found(UNKNOWN_PRODUCT)
    return json_response(product_json(market, ctx.now()))


async def get_candles(request: web.Request) -> web.Response:
    ctx, q = ctx_of(request), Query(request.query)
    market = ctx.engine.market(request.match_info["product_id"])
    if market is None:
        return not_found(UNKNOWN_PRODUCT)
    name = q.one("granularity") or "ONE_MINUTE"
    granularity = GRANULARITIES.get(name)
    if granularity is None:
        return json_response({"error": "unknown", "error_details": f"parsing field \"granularity\": \"{name}\" is "
                              "not a valid value", "message": f"invalid granularity {name}"}, 400)
    now_s = int(ctx.now().timestamp())
    end = q.integer("end", now_s, minimum=0)
    start = q.integer("start", end - 300 * granularity, minimum=0)
    limit = q.integer("limit", 0, minimum=0)
    if start > end:
        return invalid_argument("start must be before end")
    count = (end - start) // granularity + (1 if (end - start) % granularity else 0)
    cap = ctx.config.max_candles_per_request
    if count > cap or limit > cap:
        return invalid_argument(f"number of candles requested should be less than {cap}",
                                f"requested {max(count, limit)} candles")
    buckets = market.candles.query(granularity, start, end)
    if limit:
        buckets = buckets[:limit]
    return json_response({"candles": [candle_json(b) for b in buckets]})


async def get_market_trades(request: web.Request) -> web.Response:
    ctx, q = ctx_of(request), Query(request.query)
    market = ctx.engine.market(request.match_info["product_id"])
    if market is None:
        return not_found(UNKNOWN_PRODUCT)
    limit = q.integer("limit", 100, minimum=1, maximum=1000)
    start, end = q.one("start"), q.one("end")
    trades = market.recent_trades(limit, datetime.fromtimestamp(int(start), UTC) if start else None,
                                  datetime.fromtimestamp(int(end), UTC) if end else None)
    bid, ask = market.book.best_bid, market.book.best_ask
    return json_response({
        "trades": [{"trade_id": t.trade_id, "product_id": t.product_id, "price": fmt(t.price), "size": fmt(t.size),
                    "time": ts(t.time), "side": t.side, "bid": "", "ask": "", "exchange": "coinbase"}
                   for t in trades],
        "best_bid": fmt(bid.price) if bid else "", "best_ask": fmt(ask.price) if ask else "",
    })


async def best_bid_ask(request: web.Request) -> web.Response:
    ctx, q = ctx_of(request), Query(request.query)
    wanted = q.many("product_ids") or sorted(ctx.engine.markets)
    now = ctx.now()
    books = []
    for pid in wanted:
        market = ctx.engine.market(pid)
        if market is not None:
            bid, ask = market.book.best_bid, market.book.best_ask
            books.append({"product_id": pid, "bids": [level_json(bid)] if bid else [],
                          "asks": [level_json(ask)] if ask else [], "time": ts(now)})
    return json_response({"pricebooks": books})


async def product_book(request: web.Request) -> web.Response:
    ctx, q = ctx_of(request), Query(request.query)
    pid = q.one("product_id")
    market = ctx.engine.market(pid) if pid else None
    if market is None:
        return not_found(UNKNOWN_PRODUCT)
    if market.state.flags.status == "delisted":
        return not_found("no pricebook found")
    limit = q.integer("limit", 0, minimum=0)
    book = pricebook_json(market, limit or None, ctx.now())
    bid, ask = market.book.best_bid, market.book.best_ask
    extra: dict[str, str] = {"last": fmt(market.price), "mid_market": "", "spread_bps": "", "spread_absolute": ""}
    if bid and ask:
        mid = (bid.price + ask.price) / 2
        spread = ask.price - bid.price
        extra.update(mid_market=fmt(mid), spread_absolute=fmt(spread),
                     spread_bps=fmt((spread / mid * 10_000).quantize(Decimal("1e-12"))))
    return json_response({"pricebook": book, **extra})


async def server_time(request: web.Request) -> web.Response:
    now = ctx_of(request).now()
    millis = int(now.timestamp() * 1000)
    return json_response({"iso": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "epochSeconds": str(millis // 1000),
                          "epochMillis": str(millis)})


def add_routes(app: web.Application) -> None:
    for base in (PREFIX, PREFIX + "/market"):
        app.router.add_get(f"{base}/products", list_products)
        app.router.add_get(f"{base}/products/{{product_id}}", get_product)
        app.router.add_get(f"{base}/products/{{product_id}}/candles", get_candles)
        app.router.add_get(f"{base}/products/{{product_id}}/ticker", get_market_trades)
        app.router.add_get(f"{base}/product_book", product_book)
    app.router.add_get(f"{PREFIX}/best_bid_ask", best_bid_ask)
    app.router.add_get(f"{PREFIX}/time", server_time)
