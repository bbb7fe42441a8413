"""A corpus of real-world alert message shapes, each with the outcome a careful user expects.

Shapes come from TradingView's placeholders (indicator and strategy alerts), the community formats in
shared/reference/tradingview-alerts.md (the reference template, 3Commas, TradersPost, OctoBot,
tradingview-webhooks-bot, PineConnector-like text) and the plain-text grammar. Market during the run:
BTC 60000, ETH 3000, SOL 150, DOGE 0.2, LTC 100 (and 60 LTC already held: over the position cap);
caps: MAX_ORDER_NOTIONAL_USD 1000, MAX_POSITION_PCT 5 of ~100000 USD; default entry 100 USD
(sighook 40 USD); alert price deviation ≤ 2 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.e2e.harness import SECRET

PRICES = {"BTC-USD": Decimal("60000"), "ETH-USD": Decimal("3000"), "SOL-USD": Decimal("150"),
          "DOGE-USD": Decimal("0.2"), "LTC-USD": Decimal("100")}


def stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Case:
    name: str
    body: Any  # a dict (sent as JSON) or text; a callable of the fire time `now` → the body
    http: int
    result: str  # the reply's result: accepted | duplicate | invalid | stale | rejected_risk | unauthorized
    reason: str | None = None  # the reply's reason code (refused at the endpoint)
    final: str | None = None  # the alert row's status after the worker (accepted alerts)
    final_reason: str | None = None  # its reason code
    orders: int = 0  # orders the simulator receives for this case
    product: str | None = None  # the product of that order
    side: str = "BUY"
    quote_size: Decimal | None = None  # the exact quote size sent, when the case pins it
    base_size: Decimal | None = None  # the exact base size sent, when the case pins it
    path_secret: bool = False
    content_type: str = "application/json"
    extra: dict[str, Any] = field(default_factory=dict)


def ordered(name: str, body: Any, product: str, *, side: str = "BUY", **kw: Any) -> Case:
    return Case(name, body, 200, "accepted", final="ordered", orders=1, product=product, side=side, **kw)


def refused(name: str, body: Any, http: int, result: str, reason: str, **kw: Any) -> Case:
    return Case(name, body, http, result, reason=reason, **kw)


def not_ordered(name: str, body: Any, final: str, final_reason: str, **kw: Any) -> Case:
    return Case(name, body, 200, "accepted", final=final, final_reason=final_reason, **kw)


S = SECRET
D = Decimal


def cases() -> list[Case]:
    """In order: buys come before the sells/closes that need their positions."""
    def now() -> datetime:
        return datetime.now(UTC)

    def t(seconds: float = 0) -> str:
        return stamp(now() + timedelta(seconds=seconds))

    return [
        # --- TradingView indicator alerts (JSON), placeholder names as keys ---------------------
        ordered("indicator: minimal with timenow", lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy",
                                                            "timenow": t()}, "BTC-USD", quote_size=D("100")),
        ordered("indicator: bar time {{time}} beside {{timenow}}, plot values, interval",
                lambda: {"secret": S, "exchange": "COINBASE", "ticker": "SOLUSD", "action": "buy", "timenow": t(),
                         "time": t(-3600), "interval": "60", "close": "150", "open": "149.1", "volume": "1234.5",
                         "plot_0": "31.2", "plot_1": "{{plot_1}}"}, "SOL-USD", quote_size=D("100")),
        ordered("indicator: passphrase, symbol, side, timestamp, notional",
                lambda: {"passphrase": S, "symbol": "BTC-USD", "side": "BUY", "timestamp": t(), "notional": "50"},
                "BTC-USD", quote_size=D("50")),
        ordered("indicator: token, COINBASE:ETHUSD, signal=long, qty",
                lambda: {"token": S, "ticker": "COINBASE:ETHUSD", "signal": "long", "timenow": t(), "qty": "0.01"},
                "ETH-USD", base_size=D("0.01")),
        ordered("tradingview-webhooks-bot: key, contracts, time",
                lambda: {"key": S, "ticker": "SOLUSD", "action": "BUY", "time": t(), "contracts": "0.5"},
                "SOL-USD", base_size=D("0.5")),
        ordered("indicator: unused fields keep unfilled placeholders",
                lambda: {"secret": S, "ticker": "SOLUSD", "action": "buy", "timenow": t(),
                         "comment": "{{strategy.order.comment}}", "exchange": "{{exchange}}", "note": "RSI < 30"},
                "SOL-USD", quote_size=D("100")),
        ordered("indicator: epoch milliseconds fire time",
                lambda: {"secret": S, "ticker": "ETHUSD", "action": "buy", "timenow": int(now().timestamp() * 1000),
                         "notional": "30"}, "ETH-USD", quote_size=D("30")),
        ordered("indicator: secret in the URL path only", lambda: {"ticker": "ETHUSD", "action": "buy",
                                                                   "timenow": t(), "notional": "25"},
                "ETH-USD", quote_size=D("25"), path_secret=True),
        ordered("indicator: JSON sent as text/plain", lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy",
                                                               "timenow": t(), "notional": "20"},
                "BTC-USD", quote_size=D("20"), content_type="text/plain"),
        # --- strategy alerts ---------------------------------------------------------------------
        ordered("reference template (id = order id + timenow, quantity = contracts, price = close)",
                lambda: {"secret": S, "id": f"Long-{t()}", "exchange": "COINBASE", "ticker": "ETHUSD",
                         "action": "buy", "quantity": "0.02", "price": "3000", "time": t()},
                "ETH-USD", base_size=D("0.02")),
        ordered("strategy: nested strategy.order object",
                lambda: {"secret": S, "ticker": "ETHUSD", "timenow": t(),
                         "strategy": {"order": {"action": "buy", "contracts": "0.01", "price": "3000", "id": "Long",
                                                "comment": "entry"}, "market_position": "long",
                                      "position_size": "0.01"}}, "ETH-USD", base_size=D("0.01")),
        ordered("strategy: dotted placeholder names as keys",
                lambda: {"secret": S, "ticker": "BTCUSD", "strategy.order.action": "buy",
                         "strategy.order.contracts": "0.001", "strategy.order.price": "60000",
                         "strategy.order.id": "L1", "strategy.market_position": "long", "timenow": t()},
                "BTC-USD", base_size=D("0.001")),
        ordered("strategy: contracts at the top level, alert_message comment",
                lambda: {"secret": S, "ticker": "DOGEUSD", "action": "buy", "contracts": "150", "price": "0.2",
                         "timenow": t(), "alert_message": "{{strategy.order.alert_message}}"},
                "DOGE-USD", base_size=D("150")),
        # --- community formats -------------------------------------------------------------------
        ordered("3Commas-like: tv_instrument, enter_long, trigger_price, timestamp",
                lambda: {"secret": S, "max_lag": "300", "timestamp": t(), "trigger_price": "150",
                         "tv_exchange": "COINBASE", "tv_instrument": "SOLUSD", "action": "enter_long",
                         "bot_uuid": "b1"}, "SOL-USD", quote_size=D("100")),
        ordered("TradersPost-like: signalPrice, quantity, with a fire time",
                lambda: {"secret": S, "ticker": "ETHUSD", "action": "buy", "signalPrice": "3000",
                         "quantity": "0.005", "timenow": t()}, "ETH-USD", base_size=D("0.005")),
        refused("TradersPost-like without any fire time", lambda: {"secret": S, "ticker": "ETHUSD", "action": "buy",
                                                                    "signalPrice": "3000", "quantity": "0.005"},
                422, "invalid", "missing_field"),
        ordered("sighook's own alert (source sighook: its default entry size)",
                lambda: {"secret": S, "id": f"sighook:SOL-USD:{t(-60)}", "source": "sighook", "ticker": "SOL-USD",
                         "action": "buy", "price": "150", "time": t(),
                         "strategy": {"candle_time": t(-60), "score": "0.8", "votes": {"rsi": 1}}},
                "SOL-USD", quote_size=D("40")),
        # --- plain text (secret in the path) -----------------------------------------------------
        ordered("text: buy BTCUSD", "buy BTCUSD", "BTC-USD", quote_size=D("100"), path_secret=True,
                content_type="text/plain"),
        ordered("text: buy BTC-USD 0.002", "buy BTC-USD 0.002", "BTC-USD", base_size=D("0.002"), path_secret=True,
                content_type="text/plain"),
        ordered("text: buy ETHUSD $50", "buy ETHUSD $50", "ETH-USD", quote_size=D("50"), path_secret=True,
                content_type="text/plain"),
        ordered("text: buy DOGEUSD $30", "buy DOGEUSD $30", "DOGE-USD", quote_size=D("30"), path_secret=True,
                content_type="text/plain"),
        ordered("text: with a trailing {{timenow}}", lambda: f"buy SOLUSD $20 {t()}", "SOL-USD",
                quote_size=D("20"), path_secret=True, content_type="text/plain"),
        refused("text: OctoBot key=value lines are not the grammar", "EXCHANGE=coinbase\nSYMBOL=BTCUSD\nSIGNAL=BUY",
                400, "invalid", "bad_text", path_secret=True, content_type="text/plain"),
        refused("text: PineConnector-like CSV", "60123456789,buy,BTCUSD,risk=1", 400, "invalid", "bad_text",
                path_secret=True, content_type="text/plain"),
        refused("text: short", "short BTCUSD", 422, "invalid", "unsupported_action", path_secret=True,
                content_type="text/plain"),
        refused("text: zero size", "buy BTCUSD 0", 422, "invalid", "bad_size", path_secret=True,
                content_type="text/plain"),
        refused("text without a path secret", "buy BTCUSD", 400, "invalid", "not_json", content_type="text/plain"),
        # --- refused at the endpoint: the real cause, in check order --------------------------------
        refused("wrong secret", lambda: {"secret": "w" * 43, "ticker": "BTCUSD", "action": "buy", "timenow": t()},
                401, "unauthorized", "bad_secret"),
        refused("no secret anywhere", lambda: {"ticker": "BTCUSD", "action": "buy", "timenow": t()}, 401,
                "unauthorized", "missing_secret"),
        refused("JSON broken by an unquoted placeholder", '{"ticker":"BTCUSD","action":"buy","price":{{close}}}',
                400, "invalid", "not_json", path_secret=True),
        refused("short (JSON)", lambda: {"secret": S, "ticker": "BTCUSD", "action": "short", "timenow": t()}, 422,
                "invalid", "unsupported_action"),
        refused("strategy buy that covers a short (flat after buy)",
                lambda: {"secret": S, "ticker": "BTCUSD", "timenow": t(),
                         "strategy": {"order": {"action": "buy", "contracts": "1"}, "market_position": "flat"}},
                422, "invalid", "unsupported_action"),
        refused("strategy sell that opens a short", lambda: {"secret": S, "ticker": "BTCUSD", "timenow": t(),
                                                             "strategy": {"order": {"action": "sell"},
                                                                          "market_position": "short"}},
                422, "invalid", "unsupported_action"),
        refused("unfilled {{ticker}}", lambda: {"secret": S, "ticker": "{{ticker}}", "action": "buy",
                                                "timenow": t()}, 422, "invalid", "unfilled_placeholder"),
        refused("strategy placeholder in an indicator alert's size",
                lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy", "timenow": t(),
                         "quantity": "{{strategy.order.contracts}}"}, 422, "invalid", "unfilled_placeholder"),
        refused("action missing", lambda: {"secret": S, "ticker": "BTCUSD", "timenow": t()}, 422, "invalid",
                "missing_field"),
        refused("unknown product", lambda: {"secret": S, "ticker": "XYZUSD", "action": "buy", "timenow": t()},
                422, "invalid", "unknown_product"),
        refused("unknown product that is also stale", lambda: {"secret": S, "ticker": "XYZUSD", "action": "buy",
                                                               "timenow": t(-3600)}, 422, "invalid",
                "unknown_product"),
        refused("stale fire time", lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy", "timenow": t(-600)},
                422, "stale", "stale"),
        refused("stale and a bad size: stale first", lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy",
                                                              "timenow": t(-600), "contracts": "-5"},
                422, "stale", "stale"),
        refused("fire time in the future", lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy",
                                                    "timenow": t(120)}, 422, "stale", "future"),
        refused("bar time {{time}} as the only time (an hour-old bar)",
                lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy", "time": t(-3600)}, 422, "stale", "stale"),
        refused("contracts -5 (the issue)", lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy",
                                                     "timenow": t(), "contracts": "-5"}, 422, "invalid", "bad_size"),
        refused("contracts 100000 at its own price (the issue)",
                lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy", "timenow": t(), "contracts": "100000",
                         "price": "60000"}, 422, "rejected_risk", "over_order_cap"),
        refused("non-numeric quantity", lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy", "timenow": t(),
                                                 "quantity": "a lot"}, 422, "invalid", "bad_size"),
        refused("zero notional", lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy", "timenow": t(),
                                          "notional": "0"}, 422, "invalid", "bad_size"),
        refused("absurd size", lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy", "timenow": t(),
                                        "qty": "1e16"}, 422, "invalid", "bad_size"),
        refused("a sell sized in USD", lambda: {"secret": S, "ticker": "BTCUSD", "action": "sell", "timenow": t(),
                                                "notional": "50"}, 422, "invalid", "bad_size"),
        # --- accepted, then refused on the live quote and holdings (nothing ordered) ----------------
        not_ordered("0.1 BTC without a price: valued at the live ask, over the order cap (the issue)",
                    lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy", "quantity": "0.1", "timenow": t()},
                    "rejected_risk", "over_order_cap"),
        not_ordered("alert price 50000 vs a 60000 market", lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy",
                                                                    "price": "50000", "notional": "50",
                                                                    "timenow": t()},
                    "rejected_risk", "price_deviation"),
        not_ordered("LTC already held above the position cap", lambda: {"secret": S, "ticker": "LTCUSD",
                                                                        "action": "buy", "timenow": t()},
                    "rejected_risk", "over_position_cap"),
        not_ordered("below the product's minimum order", lambda: {"secret": S, "ticker": "BTCUSD", "action": "buy",
                                                                  "quantity": "0.00001", "timenow": t()},
                    "rejected_risk", "size_too_small"),
        not_ordered("close LTC: held on the exchange but not a position of this daemon",
                    lambda: {"secret": S, "ticker": "LTCUSD", "action": "close", "timenow": t()},
                    "failed", "no_position"),
        # --- exits (after the entries above filled) ------------------------------------------------
        ordered("text: sell SOLUSD 1.5", "sell SOLUSD 1.5", "SOL-USD", side="SELL", path_secret=True,
                content_type="text/plain"),
        ordered("text: close DOGEUSD", "close DOGEUSD", "DOGE-USD", side="SELL", path_secret=True,
                content_type="text/plain"),
        ordered("strategy: sell with market_position flat = close the whole position",
                lambda: {"secret": S, "ticker": "ETHUSD", "timenow": t(),
                         "strategy": {"order": {"action": "sell", "contracts": "0.001"}, "market_position": "flat"}},
                "ETH-USD", side="SELL"),
        ordered("exit (JSON)", lambda: {"secret": S, "ticker": "BTCUSD", "action": "exit", "timenow": t()},
                "BTC-USD", side="SELL"),
    ]
