"""Settings sections of trading decisions: thresholds, risk limits, the webhook, alert sizing,
sighook, working-order execution."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator

from core.settings.common import CsvList, _split_csv


class TradingSettings(BaseModel):
    stop_loss_hard_pct: Decimal = Field(
        default=Decimal("-5.0"), lt=0, description="Hard stop (market IOC exit), negative percent."
    )
    stop_loss_soft_pct: Decimal = Field(
        default=Decimal("-2.5"), lt=0, description="Soft stop (limit exit), negative, above the hard stop."
    )
    take_profit_pct: Decimal = Field(default=Decimal("6.25"), gt=0, description="Take-profit percent.")
    trailing_activation_pct: Decimal = Field(
        default=Decimal("3.5"), gt=0, description="Gain at which the trailing stop activates."
    )
    trailing_atr_multiplier: Decimal = Field(
        default=Decimal("2"), gt=0, description="Trailing distance in ATRs below the high."
    )
    trailing_step_atr: Decimal = Field(
        default=Decimal("0.5"), gt=0, description="The stop moves in steps of this many ATRs."
    )
    trailing_min_distance_pct: Decimal = Field(default=Decimal("1.0"), gt=0, description="Distance clamp.")
    trailing_max_distance_pct: Decimal = Field(default=Decimal("2.0"), gt=0, description="Distance clamp.")
    trailing_breakeven: bool = Field(
        default=True, description="On activation, never place the stop below the entry price."
    )
    trailing_time_activation_s: float | None = Field(
        default=None, ge=0, description="Also activate after the position is this old and in profit."
    )
    sentinel_sweep_interval_s: float = Field(
        default=3.0, gt=0, description="The exit sentinel's safety-net sweep over all positions."
    )
    quote_max_age_s: float = Field(
        default=10.0, gt=0, description="The sentinel never acts on a quote older than this."
    )
    matrix_max_age_s: float = Field(
        default=300.0, gt=0, description="A buy_sell_matrix older than this counts as absent."
    )
    exit_max_attempts: int = Field(default=3, ge=1, le=20, description="Attempts per exit before alerting.")
    post_only_max_attempts: int = Field(default=3, ge=1, le=10, description="Post-only re-price attempts.")
    entry_quote_size_usd: Decimal = Field(
        default=Decimal("100"), gt=0, description="Default USD size of an entry without a size."
    )
    hodl_assets: CsvList = Field(
        default_factory=list, description="Base assets never sold by the sentinel (e.g. BTC,ETH)."
    )
    hodl_large_loss_alert_pct: Decimal = Field(
        default=Decimal("-10"), lt=0, description="Alert when a HODL asset's loss passes this."
    )
    protective_stop_enabled: bool = Field(
        default=False, description="Mirror the trailing stop as a stop-limit order on the exchange."
    )
    protective_stop_min_interval_s: float = Field(default=60.0, ge=0, description="Between stop moves.")
    protective_stop_min_improvement_pct: Decimal = Field(
        default=Decimal("0.1"), ge=0, description="Smallest stop move worth a cancel-and-replace."
    )
    protective_stop_bypass_pct: Decimal = Field(
        default=Decimal("1.0"), ge=0, description="A move this large bypasses both limits above."
    )

    @field_validator("hodl_assets", mode="before")
    @classmethod
    def _csv_hodl(cls, value: Any) -> Any:
        return [v.upper() for v in _split_csv(value)] if isinstance(value, str) else value


class RiskSettings(BaseModel):
    daily_loss_limit_usd: Decimal = Field(
        default=Decimal("200"), gt=0, description="Realized loss per UTC day that halts entries."
    )
    max_position_pct: Decimal = Field(
        default=Decimal("25"), gt=0, le=100, description="Largest position as % of account value."
    )
    max_consecutive_losses: int = Field(
        default=4, ge=1, description="Losing exits in a row that pause entries."
    )
    entry_data_max_age_s: float = Field(
        default=30.0, gt=0, description="Entries need a quote at most this old."
    )
    max_order_notional_usd: Decimal = Field(
        default=Decimal("1000"), gt=0, description="Cap on one alert's order notional."
    )


class WebhookSettings(BaseModel):
    webhook_host: str = Field(default="127.0.0.1", description="Bind address of the webhook HTTP server.")
    webhook_port: int = Field(default=5003, ge=0, le=65535, description="Port (0 = any).")
    webhook_secrets: SecretStr = Field(
        default=SecretStr(""),
        description="Comma-separated alert secrets (≥ 32 chars each; several for rotation). "
        "Empty in paper mode: one is generated per run.",
    )
    admin_token: SecretStr = Field(
        default=SecretStr(""), description="Token for admin endpoints from non-loopback clients."
    )
    webhook_allowed_ips: CsvList = Field(
        default_factory=list, description="Allowed source IPs (empty = any). TradingView publishes 4."
    )
    webhook_trusted_proxies: CsvList = Field(
        default_factory=list, description="Proxies whose X-Forwarded-For is trusted."
    )
    alert_max_body_bytes: int = Field(default=4096, ge=256, le=65536, description="Larger bodies: 413.")
    alert_max_lag_s: float = Field(default=60.0, gt=0, description="Alerts older than this are stale.")
    alert_future_skew_s: float = Field(default=5.0, ge=0, description="Allowed clock skew into the future.")
    alert_rate_limit_per_min: int = Field(default=30, ge=1, description="Alerts per source per minute.")
    alert_dedup_retention_h: float = Field(default=24.0, gt=0, description="Dedup keys kept this long.")
    notify_urls: SecretStr = Field(
        default=SecretStr(""), description="Comma-separated apprise URLs for user notifications."
    )
    notify_min_interval_s: float = Field(
        default=300.0, ge=0, description="Repeat interval of an ongoing problem's notification."
    )

    @field_validator("webhook_allowed_ips", "webhook_trusted_proxies", mode="before")
    @classmethod
    def _csv_ips(cls, value: Any) -> Any:
        return _split_csv(value)


# ---- Alert sizing (issue #16): per-source default entry size and the alert-price sanity check ----
class AlertSizingSettings(BaseModel):
    entry_quote_size_usd_tradingview: Decimal | None = Field(
        default=None, gt=0, description="Default USD size of a TradingView/plain-text entry without a size "
        "(empty: ENTRY_QUOTE_SIZE_USD).",
    )
    entry_quote_size_usd_sighook: Decimal | None = Field(
        default=None, gt=0, description="Default USD size of a sighook entry (empty: ENTRY_QUOTE_SIZE_USD).",
    )
    alert_max_price_deviation_pct: Decimal = Field(
        default=Decimal("2"), gt=0, le=100, description="Refuse an entry whose alert price is further than this "
        "from the live best ask (percent).",
    )


class SighookSettings(BaseModel):
    sighook_interval_s: float = Field(default=60.0, gt=0, description="Signal cycle period.")
    sighook_webhook_url: str = Field(
        default="", description="Where sighook posts entry alerts (empty: the local webhook server)."
    )
    candle_granularity: str = Field(default="ONE_MINUTE", description="Candle granularity enum.")
    candle_history: int = Field(default=300, ge=50, le=5000, description="Candles kept per product.")
    min_volume_24h_usd: Decimal = Field(
        default=Decimal("0"), ge=0, description="Products below this 24h USD volume are ignored."
    )
    product_allow_list: CsvList = Field(default_factory=list, description="Only these (empty = all).")
    product_deny_list: CsvList = Field(default_factory=list, description="Never these.")
    buy_score_threshold: Decimal = Field(default=Decimal("0.6"), description="Weighted score to buy.")
    sell_score_threshold: Decimal = Field(default=Decimal("-0.6"), description="Weighted score to sell.")
    sighook_stage_timeout_s: float = Field(default=30.0, gt=0, description="Timeout per cycle stage.")

    @field_validator("product_allow_list", "product_deny_list", mode="before")
    @classmethod
    def _csv_sighook_products(cls, value: Any) -> Any:
        return _split_csv(value)


# ---- Execution (issue #19: maker-first working orders) ----
class ExecutionSettings(BaseModel):
    entry_order_type: str = Field(
        default="post_only", pattern="^(post_only|limit|market)$",
        description="How entries are placed: post_only (join the bid, maker fee), limit (at the ask) or market.")
    entry_order_type_sighook: str | None = Field(
        default=None, pattern="^(post_only|limit|market)$", description="Override for sighook entries.")
    entry_order_type_tradingview: str | None = Field(
        default=None, pattern="^(post_only|limit|market)$", description="Override for TradingView entries.")
    entry_order_ttl_s: float = Field(
        default=60.0, gt=0, description="A resting entry is cancelled after this (a filled part stays a position).")
    entry_max_reprices: int = Field(
        default=5, ge=0, le=100, description="Re-prices of a post-only entry as the bid moves away.")
    exit_order_style: str = Field(
        default="resting", pattern="^(resting|marketable)$",
        description="Non-hard-stop exits: resting (limit above the bid, re-priced, escalated) or marketable "
        "(limit at the bid, the pre-#19 behaviour).")
    exit_limit_offset: Decimal = Field(
        default=Decimal("0.0001"), ge=0, lt=Decimal("0.05"),
        description="Resting exits sell at bid × (1 + offset); the hard stop is always market.")
    exit_escalate_s: float = Field(
        default=30.0, gt=0, description="A resting exit still unfilled after this becomes a market order.")
    exit_max_reprices: int = Field(default=20, ge=0, le=1000, description="Re-prices of a resting exit.")
    working_poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often working orders are checked against the book.")
    book_cache_ttl_s: float = Field(
        default=1.5, ge=0, le=10, description="Book top reused for this long by working orders.")
    placement_max_retries: int = Field(
        default=4, ge=0, le=20, description="Retries of a working order's placement (transport/post-only).")
    placement_backoff_base_s: float = Field(default=0.2, gt=0, description="First retry delay (jittered).")
    placement_backoff_max_s: float = Field(default=5.0, gt=0, description="Retry delay cap.")
    exit_pnl_basis: str = Field(
        default="net", pattern="^(net|price)$",
        description="P&L basis of every exit threshold, the trailing breakeven floor and the dashboard: net of "
        "round-trip fees (buy fee + taker exit fee) or price.")
    allow_buys_on_red_day: bool = Field(
        default=True, description="false: refuse entries while the product's 24 h change is negative.")

    def entry_order_type_for(self, source: str) -> str:
        override = {"sighook": self.entry_order_type_sighook,
                    "tradingview": self.entry_order_type_tradingview}.get(source)
        return override or self.entry_order_type
