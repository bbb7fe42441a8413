"""Settings sections of passive market making and of records: tax, history, replay."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

from core.settings.common import PROJECT_ROOT, CsvList, _split_csv


# ---- Passive market making (issue #20) ----
class PassiveSettings(BaseModel):
    passive_products: CsvList = Field(
        default_factory=list,
        description="Products quoted passively (post-only bid, bracket exit per fill); empty = passive quoting off.")
    passive_order_usd: Decimal = Field(
        default=Decimal("50"), gt=0, description="Notional of one passive bid at empty inventory (USD).")
    passive_min_edge_pct: Decimal = Field(
        default=Decimal("0.1"), ge=0,
        description="Edge (percent) required on top of the round-trip maker fee: spread >= 2 x maker fee + this.")
    passive_atr_spread_mult: Decimal = Field(
        default=Decimal("0.5"), ge=0, description="Half spread widened to at least this many ATRs (0 = off).")
    passive_refresh_s: float = Field(
        default=30.0, gt=0, description="A quote older than this is replaced when its price would change.")
    passive_refresh_move_pct: Decimal = Field(
        default=Decimal("0.2"), gt=0, description="A quote is replaced at once when the mid moved this much (%).")
    passive_filled_delay_s: float = Field(
        default=10.0, ge=0, description="No new bid for this long after a passive buy filled.")
    passive_max_inventory_usd: Decimal = Field(
        default=Decimal("200"), gt=0, description="Per product: no bid once its position is worth this (USD).")
    passive_max_total_usd: Decimal = Field(
        default=Decimal("500"), gt=0, description="No bid once all passive products' positions are worth this.")
    passive_inventory_skew: bool = Field(
        default=True, description="Smaller, lower bids as a product's inventory approaches its cap.")
    passive_price_ceilings: CsvList = Field(
        default_factory=list, description="SYMBOL=price pairs: no passive bid above this mid.")
    passive_price_floors: CsvList = Field(
        default_factory=list, description="SYMBOL=price pairs: no passive ask below this mid.")
    passive_take_profit_pct: Decimal = Field(
        default=Decimal("1.5"), gt=0, description="Bracket take-profit limit, percent above the passive fill.")
    passive_stop_pct: Decimal = Field(
        default=Decimal("2"), gt=0, lt=50, description="Bracket stop trigger, percent below the passive fill.")
    max_rearm_attempts: int = Field(
        default=5, ge=1, le=50,
        description="Bracket failures (cancelled or refused) before the position is handed to the sentinel.")
    passive_max_orders_per_min: int = Field(
        default=6, ge=1, le=600, description="Per product: quote orders the passive manager may send per minute.")
    passive_poll_interval_s: float = Field(
        default=2.0, gt=0, description="How often the passive manager looks at its quotes and brackets.")

    @field_validator("passive_products", "passive_price_ceilings", "passive_price_floors", mode="before")
    @classmethod
    def _passive_csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("passive_price_ceilings", "passive_price_floors")
    @classmethod
    def _price_pairs(cls, value: list[str]) -> list[str]:
        for pair in value:
            symbol, sep, price = pair.partition("=")
            try:
                ok = bool(sep and symbol.strip()) and Decimal(price.strip()) > 0
            except ArithmeticError:
                ok = False
            if not ok:
                raise ValueError(f"expected SYMBOL=price with a positive price, got {pair!r}")
        return value

    def passive_band(self, which: str) -> dict[str, Decimal]:
        """`ceilings` or `floors` as {symbol: price}."""
        pairs = self.passive_price_ceilings if which == "ceilings" else self.passive_price_floors
        out: dict[str, Decimal] = {}
        for pair in pairs:
            symbol, _, price = pair.partition("=")
            out[symbol.strip().upper()] = Decimal(price.strip())
        return out


class TaxSettings(BaseModel):
    tax_timezone: str = Field(default="America/New_York", description="Zone that defines trade dates.")
    tax_month_end_convention: bool = Field(
        default=True, description="Month-end holding-period convention (see the tax reference)."
    )
    missing_basis_term: str = Field(default="short", pattern="^(short|long)$", description="Term of "
                                    "rows with unknown acquisition.")
    fifo_workers: int = Field(default=0, ge=0, le=64, description="Processes that match lots in `fifo rebuild` "
                              "and `fifo check` over many fills (0: one per CPU; 1: none besides the command).")


# ---- issue #23: trailing-stop/exit history and the live diagnostic ----
class HistorySettings(BaseModel):
    event_retention_days: float = Field(
        default=90.0, gt=0, description="trailing_stop_events and exit_events rows older than this are deleted "
        "(checked hourly by the webhook)."
    )
    diagnose_webhook_url: str = Field(
        default="", description="Base URL of the daemon `diagnose` watches (empty: http://WEBHOOK_HOST:WEBHOOK_PORT)."
    )
    diagnose_poll_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="How often `diagnose` samples /health and /metrics."
    )


# ---- Replay (issue 22): `python main.py replay` ----
class ReplaySettings(BaseModel):
    replay_max_gap_candles: int = Field(
        default=5, ge=0, description="Replay data may miss at most this many candles in a row (else an error)."
    )
    replay_report_dir: Path = Field(
        default=PROJECT_ROOT / "var" / "replay", description="Where `replay` writes its reports (--report)."
    )
