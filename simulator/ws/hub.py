"""Fan-out of engine events and periodic channels (heartbeats, ticker_batch, candles) to connections."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.logging import get_logger
from simulator.engine.candles import MINUTE
from simulator.engine.events import BookEvent, EngineEvent, OrderEvent, TickerEvent, TradeEvent
from simulator.engine.market import Stats24h
from simulator.engine.orders import MarketTrade, SimOrder
from simulator.ws import channels as ch
from simulator.ws.connection import Connection, Outgoing

if TYPE_CHECKING:
    from simulator.context import SimContext

log = get_logger(__name__)
USER_SNAPSHOT_BATCH = 50
CANDLE_WS_GRANULARITY = 5 * MINUTE


class WsHub:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.connections: set[Connection] = set()
        self._l2: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
        self._started = time.monotonic()

    # ---- engine events -------------------------------------------------------------------------
    def dispatch(self, events: list[EngineEvent]) -> None:
        if not self.connections or not events:
            return
        tickers: list[str] = []
        books: list[str] = []
        trades: dict[str, list[MarketTrade]] = defaultdict(list)
        for event in events:
            if isinstance(event, OrderEvent):
                self._user_update(event.order)
            elif isinstance(event, TickerEvent) and event.product_id not in tickers:
                tickers.append(event.product_id)
            elif isinstance(event, BookEvent) and event.product_id not in books:
                books.append(event.product_id)
            elif isinstance(event, TradeEvent):
                trades[event.trade.product_id].append(event.trade)
        for pid in tickers:
            self._ticker_update(pid)
        for pid in books:
            self._l2_update(pid)
        for pid, batch in trades.items():
            self._trades_update(pid, batch)

    def _subscribers(self, channel: str, product_id: str | None) -> list[Connection]:
        return [c for c in self.connections if not c.closed and c.subscribed(channel, product_id)]

    def _user_update(self, order: SimOrder) -> None:
        for conn in self._subscribers("user", order.product_id):
            conn.send(Outgoing("user", "user", ({"type": "update", "orders": [self._user_json(order, conn)]},)))

    def _user_json(self, order: SimOrder, conn: Connection) -> dict[str, Any]:
        cfg = self.ctx.config
        minimal = self.ctx.faults.active("ws_minimal_user", conn.path)
        return ch.user_order_json(order, self.ctx.engine.config.portfolio_id, cfg.user_stop_limit_type, minimal)

    def _stats(self, pid: str) -> Stats24h:
        return self.ctx.engine.markets[pid].stats(self.ctx.now())

    def _ticker_update(self, pid: str) -> None:
        subs = self._subscribers("ticker", pid)
        if subs:
            ticker = ch.ticker_json(self.ctx.engine.markets[pid], self._stats(pid))
            for conn in subs:
                conn.send(Outgoing("data", "ticker", ({"type": "update", "tickers": [ticker]},)))

    def _l2_update(self, pid: str) -> None:
        subs = self._subscribers("level2", pid)
        if not subs:
            self._l2.pop(pid, None)
            return
        bids, asks = self._book_levels(pid)
        before = self._l2.get(pid)
        self._l2[pid] = (bids, asks)
        if before is None:
            return
        when = ch.ws_time(self.ctx.now())
        updates = ch.l2_updates("bid", before[0], bids, when) + ch.l2_updates("offer", before[1], asks, when)
        if updates:
            for conn in subs:
                conn.send(Outgoing("data", "l2_data", ({"type": "update", "product_id": pid, "updates": updates},)))

    def _book_levels(self, pid: str) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        bids, asks = self.ctx.engine.markets[pid].book.top()
        return ch.l2_levels(bids), ch.l2_levels(asks)

    def _trades_update(self, pid: str, batch: list[MarketTrade]) -> None:
        subs = self._subscribers("market_trades", pid)
        if subs:
            event = {"type": "update", "trades": [ch.trade_ws_json(t) for t in reversed(batch)]}
            for conn in subs:
                conn.send(Outgoing("data", "market_trades", (event,)))

    # ---- subscribe snapshots ----------------------------------------------------------------------
    def snapshots(self, conn: Connection, channel: str, products: list[str]) -> None:
        engine = self.ctx.engine
        if channel == "ticker":
            tickers = [ch.ticker_json(engine.markets[p], self._stats(p)) for p in products]
            if tickers:
                conn.send(Outgoing("data", "ticker", ({"type": "snapshot", "tickers": tickers},)))
        elif channel == "ticker_batch":
            self._ticker_batch_to(conn, products, "snapshot")
        elif channel == "level2":
            for pid in products:
                bids, asks = self._l2.get(pid) or self._book_levels(pid)
                self._l2[pid] = (bids, asks)
                conn.send(Outgoing("data", "l2_data", (ch.l2_snapshot_event(pid, bids, asks),)))
        elif channel == "candles":
            self._candles_to(conn, products, "snapshot")
        elif channel == "market_trades":
            trades = [t for p in products for t in engine.markets[p].recent_trades(50)]
            conn.send(Outgoing("data", "market_trades",
                               ({"type": "snapshot", "trades": [ch.trade_ws_json(t) for t in trades]},)))
        elif channel == "status":
            listing = [ch.status_product_json(engine.markets[p]) for p in products]
            conn.send(Outgoing("data", "status", ({"type": "snapshot", "products": listing},)))
        elif channel == "user":
            self._user_snapshot(conn, products)

    def _user_snapshot(self, conn: Connection, products: list[str]) -> None:
        orders = [o for o in self.ctx.engine.open_orders() if not products or o.product_id in products]
        orders.sort(key=lambda o: (o.created_time, o.order_id))
        batches = [orders[i:i + USER_SNAPSHOT_BATCH] for i in range(0, len(orders), USER_SNAPSHOT_BATCH)]
        if not batches or len(batches[-1]) == USER_SNAPSHOT_BATCH:
            batches.append([])  # "all received" = the first batch with fewer than 50 orders
        for batch in batches:
            event = {"type": "snapshot", "orders": [self._user_json(o, conn) for o in batch],
                     "positions": ch.EMPTY_POSITIONS}
            conn.send(Outgoing("user", "user", (event,)))

    def _ticker_batch_to(self, conn: Connection, products: list[str], kind: str) -> None:
        with_best = self.ctx.config.ticker_batch_best_bid_ask
        tickers = [ch.ticker_json(self.ctx.engine.markets[p], self._stats(p), with_best) for p in products]
        if tickers:
            conn.send(Outgoing("data", "ticker_batch", ({"type": kind, "tickers": tickers},)))

    def _candles_to(self, conn: Connection, products: list[str], kind: str) -> None:
        now = int(self.ctx.now().timestamp())
        out: list[dict[str, str]] = []
        for pid in products:
            buckets = self.ctx.engine.markets[pid].candles.query(CANDLE_WS_GRANULARITY, now - 3600, now)
            chosen = buckets if kind == "snapshot" else buckets[:1]
            out.extend(ch.candle_ws_json(pid, b) for b in chosen)
        if out:
            conn.send(Outgoing("data", "candles", ({"type": kind, "candles": out},)))

    # ---- periodic channels ------------------------------------------------------------------------
    async def heartbeat_loop(self) -> None:
        cfg = self.ctx.config
        while True:
            await asyncio.sleep(1.0)
            now = self.ctx.now()
            uptime = time.monotonic() - self._started
            for conn in list(self.connections):
                if conn.closed:
                    continue
                if conn.subscribed("heartbeats"):
                    rule = self.ctx.faults.take("ws_heartbeat_gap", conn.path)
                    conn.heartbeat_counter += 1 + (int(rule.params.get("skip", 1)) if rule else 0)
                    event = ch.heartbeat_event(now, uptime, conn.heartbeat_counter, cfg.heartbeat_counter_as_string)
                    conn.send(Outgoing("heartbeat", "heartbeats", (event,)))
                elif cfg.ws_idle_close_s is not None and time.monotonic() - conn.last_sent > cfg.ws_idle_close_s:
                    await conn.close(1000, "idle")
                if conn.subs.get("candles"):
                    self._candles_to(conn, sorted(conn.subs["candles"]), "update")

    async def ticker_batch_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.config.ticker_batch_interval_s)
            for conn in list(self.connections):
                if not conn.closed and conn.subs.get("ticker_batch"):
                    self._ticker_batch_to(conn, sorted(conn.subs["ticker_batch"]), "update")

    async def close_all(self, code: int = 1001, reason: str = "going away") -> None:
        for conn in list(self.connections):
            await conn.close(code, reason)
