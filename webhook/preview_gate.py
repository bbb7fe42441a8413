"""Market orders above PREVIEW_ABOVE_USD are previewed before they are sent (issue #21).

`decide` is pure: a preview with errors, or whose slippage exceeds MAX_SLIPPAGE_PCT, blocks the
order — except a hard-stop exit, which must leave whatever the price (its preview is still
recorded, as `exempt`). `PreviewGate.check` is the shell: it asks the exchange, decides, and records
the preview in `order_previews` with the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.enums import ExitReason
from core.logging import get_logger
from core.metrics import ORDER_PREVIEWS
from core.settings import Settings
from exchange.models import OrderKind, OrderRequest, PreviewResult
from exchange.port import ExchangeError, ExchangePort
from shared_data.db import unit_of_work

log = get_logger(__name__)
Decision = Literal["send", "block", "exempt"]


@dataclass(frozen=True, slots=True)
class PreviewVerdict:
    decision: Decision
    reason: str
    preview: PreviewResult | None = None

    @property
    def send(self) -> bool:
        return self.decision != "block"


def needs_preview(request: OrderRequest, notional_usd: Decimal, settings: Settings) -> bool:
    return request.kind is OrderKind.MARKET and notional_usd > settings.preview_above_usd


def decide(preview: PreviewResult | None, failure: str | None, max_slippage_pct: Decimal,
           exempt: bool) -> PreviewVerdict:
    """`failure` is set when the preview call itself failed (then `preview` is None)."""
    if preview is None:
        why = f"preview failed: {failure or 'no answer'}"
        return PreviewVerdict("exempt" if exempt else "block", why)
    if preview.errors:
        why = f"preview refused: {', '.join(preview.errors)}"
        return PreviewVerdict("exempt" if exempt else "block", why, preview)
    if preview.slippage_pct > max_slippage_pct:
        why = f"slippage {preview.slippage_pct:.4f}% > MAX_SLIPPAGE_PCT {max_slippage_pct}%"
        return PreviewVerdict("exempt" if exempt else "block", why, preview)
    return PreviewVerdict("send", f"slippage {preview.slippage_pct:.4f}% within {max_slippage_pct}%", preview)


_INSERT = text("""
    INSERT INTO order_previews (client_order_id, symbol, side, notional_usd, order_total, commission_total,
                                slippage_pct, errors, decision, reason)
    VALUES (:coid, :symbol, :side, :notional, :total, :commission, :slippage, :errors, :decision, :reason)
""")


class PreviewGate:
    def __init__(self, exchange: ExchangePort, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._exchange = exchange
        self._sessions = sessions
        self._settings = settings

    async def check(self, request: OrderRequest, notional_usd: Decimal,
                    exit_reason: ExitReason | None) -> PreviewVerdict | None:
        """None when no preview is needed; otherwise the recorded verdict."""
        if not needs_preview(request, notional_usd, self._settings):
            return None
        preview: PreviewResult | None = None
        failure: str | None = None
        try:
            preview = await self._exchange.preview_order(request)
        except (ExchangeError, TimeoutError) as exc:
            failure = f"{type(exc).__name__}: {exc}"[:300]
        verdict = decide(preview, failure, self._settings.max_slippage_pct, exit_reason is ExitReason.HARD_STOP)
        ORDER_PREVIEWS.labels(decision=verdict.decision).inc()
        p = verdict.preview
        async with unit_of_work(self._sessions) as session:
            await session.execute(_INSERT, {
                "coid": request.client_order_id, "symbol": request.product_id, "side": request.side.value,
                "notional": notional_usd, "total": p.order_total if p else None,
                "commission": p.commission_total if p else None, "slippage": p.slippage_pct if p else None,
                "errors": ",".join(p.errors) if p and p.errors else failure, "decision": verdict.decision,
                "reason": verdict.reason})
        log.info("order_previewed", client_order_id=request.client_order_id, symbol=request.product_id,
                 decision=verdict.decision, reason=verdict.reason,
                 slippage_pct=str(p.slippage_pct) if p else None)
        return verdict
