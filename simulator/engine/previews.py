"""POST /orders/preview: create's validation and a fill quote, without placing anything. Pure over the engine.

A rejection becomes `errs` (preview failure reasons, first failure wins, as create); an accepted
preview carries the totals a fill against the current book would produce (simulator.engine.fill_quote).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from simulator.engine import validation as v
from simulator.engine.fill_quote import FillQuote, quote_fill
from simulator.engine.matching import MatchingEngine
from simulator.engine.orders import OrderSpec, Rejection, parse_order_configuration

UNKNOWN_PREVIEW = "UNKNOWN_PREVIEW_FAILURE_REASON"


@dataclass(frozen=True, slots=True)
class PreviewOutcome:
    preview_id: str
    spec: OrderSpec | None
    quote: FillQuote | None
    errs: tuple[str, ...] = ()
    rejection: Rejection | None = None


def preview_reason(rejection: Rejection) -> str:
    """The PREVIEW_* reason of a rejection; create-only codes (e.g. INVALID_PRODUCT_ID) pass through."""
    if rejection.preview_failure_reason and rejection.preview_failure_reason != UNKNOWN_PREVIEW:
        return rejection.preview_failure_reason
    return rejection.error


def preview_order(engine: MatchingEngine, product_id: str, side: str, order_configuration: object,
                  now: datetime) -> PreviewOutcome:
    preview_id = engine.new_id()
    spec = parse_order_configuration(order_configuration)
    market = engine.markets.get(product_id)
    rejection = v.check_product(market.state if market else None,
                                spec.is_market if isinstance(spec, OrderSpec) else None)
    if rejection is None and side not in ("BUY", "SELL"):
        rejection = Rejection("INVALID_SIDE", UNKNOWN_PREVIEW, "Invalid side")
    if rejection is None and isinstance(spec, Rejection):
        rejection = spec
    if rejection is None and market is not None and isinstance(spec, OrderSpec):
        rejection = engine.validate_spec(spec, side, market, now)
    if rejection is not None or market is None or not isinstance(spec, OrderSpec):
        assert rejection is not None
        return PreviewOutcome(preview_id, spec if isinstance(spec, OrderSpec) else None, None,
                              (preview_reason(rejection),), rejection)
    cfg = engine.config
    quote = quote_fill(spec, side, market.book, cfg.maker_fee_rate, cfg.taker_fee_rate,
                       market.state.spec.base_increment)
    if not quote.liquid:
        return PreviewOutcome(preview_id, spec, quote, ("PREVIEW_INVALID_NO_LIQUIDITY",))
    return PreviewOutcome(preview_id, spec, quote)
