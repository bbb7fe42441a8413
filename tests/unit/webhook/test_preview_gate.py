"""The pure preview decision: errors or excess slippage block a market order; a hard stop is exempt."""

from __future__ import annotations

from decimal import Decimal

from core.enums import Side
from core.settings import load_settings
from exchange.models import OrderKind, OrderRequest, PreviewResult
from webhook.preview_gate import decide, needs_preview

D = Decimal


def preview(slippage: str, errors: tuple[str, ...] = ()) -> PreviewResult:
    return PreviewResult(errors=errors, order_total=D("1000"), commission_total=D("12"), base_size=D("0.1"),
                         quote_size=D("988"), best_bid=D("99"), best_ask=D("100"), slippage_pct=D(slippage))


def test_within_limit_is_sent() -> None:
    v = decide(preview("0.5"), None, D("1"), exempt=False)
    assert v.decision == "send" and v.send


def test_slippage_above_limit_blocks_but_a_hard_stop_goes() -> None:
    assert decide(preview("1.01"), None, D("1"), exempt=False).decision == "block"
    exempt = decide(preview("5"), None, D("1"), exempt=True)
    assert exempt.decision == "exempt" and exempt.send and "slippage" in exempt.reason


def test_a_failed_or_refused_preview_blocks() -> None:
    assert decide(None, "ExchangeUnavailable: 503", D("1"), exempt=False).decision == "block"
    refused = decide(preview("0", ("PREVIEW_INSUFFICIENT_FUND",)), None, D("1"), exempt=False)
    assert refused.decision == "block" and "PREVIEW_INSUFFICIENT_FUND" in refused.reason


def test_only_market_orders_above_the_threshold_are_previewed() -> None:
    settings = load_settings(preview_above_usd="1000")
    market = OrderRequest("c", "BTC-USD", Side.BUY, OrderKind.MARKET, quote_size=D("1500"))
    limit = OrderRequest("c", "BTC-USD", Side.BUY, OrderKind.LIMIT_GTC, base_size=D("1"), limit_price=D("1500"))
    assert needs_preview(market, D("1500"), settings)
    assert not needs_preview(market, D("1000"), settings)
    assert not needs_preview(limit, D("1500"), settings)
