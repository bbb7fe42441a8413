"""The bodies of POST /orders/preview, /orders/edit and /orders/edit_preview, without HTTP: the simulator's
routes send them, and the replay's in-process venue answers with them too (so a replay loads no web server).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.money import fmt
from simulator.engine.edits import EditFailure, EditOutcome
from simulator.engine.fill_quote import FillQuote
from simulator.engine.previews import PreviewOutcome


def _opt(value: Decimal | None) -> str:
    return fmt(value) if value is not None else ""


def _quote_fields(quote: FillQuote | None) -> dict[str, Any]:
    if quote is None:
        return {"order_total": "0", "commission_total": "0", "quote_size": "0", "base_size": "0", "best_bid": "",
                "best_ask": "", "slippage": "0", "average_filled_price": "0"}
    return {"order_total": fmt(quote.order_total), "commission_total": fmt(quote.commission),
            "quote_size": fmt(quote.quote_size), "base_size": fmt(quote.base_size), "best_bid": _opt(quote.best_bid),
            "best_ask": _opt(quote.best_ask), "slippage": fmt(quote.slippage),
            "average_filled_price": fmt(quote.average_price)}


def preview_response(outcome: PreviewOutcome) -> dict[str, Any]:
    """The preview body, without HTTP (the replay's in-process venue answers with it too)."""
    out = _quote_fields(outcome.quote)
    out.pop("average_filled_price")
    out.update({"errs": list(outcome.errs), "warning": [], "is_max": False, "preview_id": outcome.preview_id,
                "order_margin_total": "0", "leverage": "1", "long_leverage": "1", "short_leverage": "1"})
    return out


def _errors(failure: EditFailure) -> list[dict[str, str]]:
    return [{"edit_failure_reason": failure.edit_failure_reason,
             "preview_failure_reason": failure.preview_failure_reason}]


def edit_response(outcome: EditOutcome) -> dict[str, Any]:
    """The edit body, without HTTP (the replay's in-process venue answers with it too)."""
    if outcome.failure is not None:
        return {"success": False, "errors": _errors(outcome.failure)}
    assert outcome.order is not None
    return {"success": True, "success_response": {"order_id": outcome.order.order_id}, "errors": []}


def edit_preview_response(outcome: EditOutcome) -> dict[str, Any]:
    """The edit preview body."""
    out: dict[str, Any] = {"errors": _errors(outcome.failure) if outcome.failure is not None else []}
    out.update(_quote_fields(outcome.quote))
    return out
