"""All configuration, in one pydantic-settings class.

Every setting is read from the environment (or `.env`) here and nowhere else. The class is built
from one mixin per concern so related settings sit together; the env var of a field is its name in
upper case (``stop_loss_hard_pct`` ↔ ``STOP_LOSS_HARD_PCT``). Percentages are in percent units
(``-5`` means −5 %). Run ``python main.py config example`` to regenerate `.env.example`.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

CsvList = Annotated[list[str], NoDecode]


def _split_csv(value: Any) -> Any:
    """Lists come from env vars as comma-separated text (`BTC-USD,ETH-USD`)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class TradingMode(StrEnum):
    PAPER = "paper"
    LIVE = "live"


class LogFormat(StrEnum):
    AUTO = "auto"  # console renderer on a TTY, JSON otherwise
    JSON = "json"
    CONSOLE = "console"


LIVE_CONFIRMATION_PHRASE = "I understand this trades real money"


class DatabaseSettings(BaseModel):
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host:port/db). Unset: an embedded "
        "server (pgserver) under PGDATA_DIR is started and stopped with the process.",
    )
    pgdata_dir: Path = Field(
        default=PROJECT_ROOT / "var" / "pgdata",
        description="Data folder of the embedded PostgreSQL (used only when DATABASE_URL is unset).",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200, description="Connections per process pool.")
    db_connect_timeout_s: float = Field(default=10.0, gt=0, description="Timeout to open a connection.")
    db_statement_timeout_ms: int = Field(
        default=30_000, ge=0, description="Server-side statement timeout (0 = none)."
    )


class ExchangeSettings(BaseModel):
    trading_mode: TradingMode = Field(
        default=TradingMode.PAPER,
        description="paper: trade against the bundled simulator. live: Coinbase (needs keys and "
        "LIVE_TRADING_CONFIRM).",
    )
    live_trading_confirm: str = Field(
        default="",
        description=f"Must equal '{LIVE_CONFIRMATION_PHRASE}' for TRADING_MODE=live to start.",
    )
    coinbase_api_key: str = Field(
        default="", description="CDP key name (organizations/…/apiKeys/…). Empty in paper mode: a "
        "key pair is generated for the simulator."
    )
    coinbase_api_secret: SecretStr = Field(
        default=SecretStr(""), description="CDP private key (PEM). Never logged."
    )
    rest_base_url: str = Field(
        default="",
        description="REST host[:port] without scheme. Empty: api.coinbase.com in live mode, the "
        "simulator in paper mode (started in-process by `both` when empty).",
    )
    ws_market_url: str = Field(default="", description="Market-data WebSocket URL (empty: by mode).")
    ws_user_url: str = Field(default="", description="User-order WebSocket URL (empty: by mode).")
    paper_exchange_hosts: CsvList = Field(
        default_factory=list,
        description="Non-loopback hosts paper mode may talk to (the simulator's service name under docker "
        "compose). Coinbase's own hosts are refused in paper mode whatever this says.",
    )
    exchange_ca_file: Path | None = Field(
        default=None, description="CA bundle to trust for REST (the simulator's CA in paper mode)."
    )
    rest_timeout_s: float = Field(default=10.0, gt=0, le=120, description="Timeout of every REST call.")
    rest_max_retries: int = Field(default=4, ge=0, le=10, description="Retries for 429/5xx/timeouts.")
    rest_backoff_base_s: float = Field(default=0.25, gt=0, description="First backoff step (jittered).")
    rest_backoff_max_s: float = Field(default=8.0, gt=0, description="Longest backoff step.")
    rest_rate_private_per_s: float = Field(
        default=25.0, gt=0, description="Client-side limit for private endpoints (Coinbase: 30/s)."
    )
    rest_rate_public_per_s: float = Field(
        default=8.0, gt=0, description="Client-side limit for public endpoints (Coinbase: 10/s)."
    )
    ws_heartbeat_timeout_s: float = Field(
        default=10.0, gt=0, description="Reconnect when no message/heartbeat arrives for this long."
    )
    ws_backoff_max_s: float = Field(default=30.0, gt=0, description="Longest reconnect backoff.")
    reconcile_interval_s: float = Field(default=300.0, gt=0, description="Periodic reconciliation.")
    fills_lag_retry_s: float = Field(
        default=15.0, gt=0, description="How long to keep polling REST fills of a filled order."
    )

    @field_validator("paper_exchange_hosts", mode="before")
    @classmethod
    def _csv_paper_hosts(cls, value: Any) -> Any:
        return _split_csv(value)


class SimulatorSettings(BaseModel):
    sim_host: str = Field(default="127.0.0.1", description="Simulator bind address (loopback only).")
    sim_rest_port: int = Field(default=8443, ge=0, le=65535, description="HTTPS REST port (0 = any).")
    sim_ws_port: int = Field(default=8765, ge=0, le=65535, description="WebSocket port (0 = any).")
    sim_state_dir: Path = Field(
        default=PROJECT_ROOT / "var" / "simulator",
        description="Certificates and generated keys of the simulator.",
    )
    sim_seed: int = Field(default=42, description="Seed of the price process (deterministic runs).")
    sim_products: CsvList = Field(
        default_factory=lambda: ["BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD", "LTC-USD"],
        description="Products the simulator lists.",
    )
    sim_volatility: Decimal = Field(
        default=Decimal("0.0005"), ge=0, description="Per-tick volatility of the random walk."
    )
    sim_drift: Decimal = Field(default=Decimal("0"), description="Per-tick drift of the random walk.")
    sim_tick_interval_s: float = Field(default=1.0, gt=0, description="Price-process tick period.")
    sim_clock_speed: float = Field(default=1.0, gt=0, description="Simulated seconds per real second.")
    sim_initial_usd: Decimal = Field(default=Decimal("10000"), ge=0, description="Paper USD balance.")
    sim_replay_csv: Path | None = Field(
        default=None, description="Replay OHLCV rows from this CSV instead of the random walk."
    )
    sim_tls_hostnames: CsvList = Field(
        default_factory=list,
        description="Extra names in the simulator's TLS certificate (e.g. 'simulator' under docker compose).",
    )

    # Validator names must be unique across the mixins: the composed class would keep only one.
    @field_validator("sim_products", "sim_tls_hostnames", mode="before")
    @classmethod
    def _csv_sim_products(cls, value: Any) -> Any:
        return _split_csv(value)


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


# ---- Durability and account safety (issue #17) ----
class DurabilitySettings(BaseModel):
    fill_record_attempts: int = Field(default=3, ge=1, le=20, description="Tries to record a fill before it is "
                                      "dead-lettered (its product's entries halt until `fills retry`).")
    fill_dead_letter_watch_s: float = Field(default=5.0, gt=0, description="How often the daemon re-checks "
                                            "dead-lettered fills (re-notifies, notices `fills retry`).")
    crash_loop_restarts: int = Field(default=3, ge=1, description="A loop restarted this often within "
                                     "CRASH_LOOP_WINDOW_S makes /health not ready.")
    crash_loop_window_s: float = Field(default=300.0, gt=0, description="Window of CRASH_LOOP_RESTARTS.")


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


class LoggingSettings(BaseModel):
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$", description="Level.")
    log_format: LogFormat = Field(default=LogFormat.AUTO, description="auto, json or console.")


# ---- issue #21: order previews and degraded mode (own group, appended for easy merges) ----
class ExchangeResilienceSettings(BaseModel):
    preview_above_usd: Decimal = Field(
        default=Decimal("1000"), ge=0, description="Market orders above this USD value are previewed before sending."
    )
    max_slippage_pct: Decimal = Field(
        default=Decimal("1.0"), gt=0,
        description="A previewed market order whose slippage exceeds this is not sent (hard stops: sent anyway).",
    )
    degraded_error_threshold: int = Field(
        default=5, ge=1, description="Exchange errors/timeouts of one call family within the window → degraded mode."
    )
    degraded_window_s: float = Field(default=60.0, gt=0, description="Window for the degraded-mode error count.")
    degraded_recovery_successes: int = Field(
        default=10, ge=1, description="Consecutive successful exchange calls that end degraded mode."
    )
    degraded_notify_every_s: float = Field(
        default=300.0, gt=0, description="While degraded, repeat the notification this often."
    )
    degraded_reconcile_factor: float = Field(
        default=4.0, ge=1, description="While degraded, reconciliation runs this many times less often."
    )
    degraded_probe_interval_s: float = Field(
        default=3.0, gt=0, description="While degraded, one cheap exchange read this often, so that recovery "
        "does not wait for traffic an idle daemon may never make."
    )


# ---- Local state of a first run (issue 18) ----
class LocalStateSettings(BaseModel):
    webhook_secret_file: Path = Field(
        default=PROJECT_ROOT / "var" / "webhook-secret",
        description="Paper mode without WEBHOOK_SECRETS: the alert secret is created here (mode 0600) "
        "on the first run and reused; `cat` it to send alerts yourself.",
    )
    admin_token_file: Path = Field(
        default=PROJECT_ROOT / "var" / "admin-token",
        description="Paper mode with WEBHOOK_HOST beyond loopback (docker compose) and no ADMIN_TOKEN: a token "
        "is created here; the dashboard's password (any user name) for browsers that are not on loopback.",
    )
    paper_simulator_host: str = Field(
        default="",
        description="Paper mode only: a standalone simulator's host (docker compose: 'simulator'). When set and "
        "REST_BASE_URL is empty, REST/WebSocket URLs and the CA follow from it, SIM_*_PORT and SIM_STATE_DIR; "
        "ignored in live mode, so one compose file serves both.",
    )


# ---- High availability (issue #24): leader election, fencing, sighook product leases ----
class HighAvailabilitySettings(BaseModel):
    failover_s: float = Field(
        default=5.0, gt=0, description="Goal from the leader's death to the new leader's first exit decision; "
        "also bounds the takeover's reconciliation."
    )
    leader_retry_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="How often a standby webhook tries to take the leader lock."
    )
    leader_lease_s: float = Field(
        default=3.0, ge=1, le=60, description="A leader whose lock connection is silent this long loses the lock "
        "(the server ends the session); it renews every third of it."
    )


# ---- Replay (issue 22): `python main.py replay` ----
class ReplaySettings(BaseModel):
    replay_max_gap_candles: int = Field(
        default=5, ge=0, description="Replay data may miss at most this many candles in a row (else an error)."
    )
    replay_report_dir: Path = Field(
        default=PROJECT_ROOT / "var" / "replay", description="Where `replay` writes its reports (--report)."
    )


class Settings(
    HighAvailabilitySettings,
    ExchangeResilienceSettings,
    LocalStateSettings,
    HistorySettings,
    DurabilitySettings,
    ReplaySettings,
    LoggingSettings,
    PassiveSettings,
    ExecutionSettings,
    TaxSettings,
    SighookSettings,
    AlertSizingSettings,
    WebhookSettings,
    RiskSettings,
    TradingSettings,
    SimulatorSettings,
    ExchangeSettings,
    DatabaseSettings,
    BaseSettings,
):
    """The daemon's configuration (env vars / `.env`)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False,
        env_ignore_empty=True,
    )

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        if self.stop_loss_soft_pct <= self.stop_loss_hard_pct:
            raise ValueError(
                "STOP_LOSS_SOFT_PCT must be above STOP_LOSS_HARD_PCT (the soft stop fires first), got "
                f"soft={self.stop_loss_soft_pct} hard={self.stop_loss_hard_pct}"
            )
        if self.trailing_min_distance_pct > self.trailing_max_distance_pct:
            raise ValueError("TRAILING_MIN_DISTANCE_PCT must not exceed TRAILING_MAX_DISTANCE_PCT")
        if self.trading_mode is TradingMode.LIVE:
            if self.live_trading_confirm != LIVE_CONFIRMATION_PHRASE:
                raise ValueError(
                    f"LIVE_TRADING_CONFIRM must equal '{LIVE_CONFIRMATION_PHRASE}' when TRADING_MODE=live"
                )
            if not self.coinbase_api_key or not self.coinbase_api_secret.get_secret_value():
                raise ValueError("COINBASE_API_KEY and COINBASE_API_SECRET are required when TRADING_MODE=live")
            if not self.webhook_secret_list():
                raise ValueError("WEBHOOK_SECRETS is required when TRADING_MODE=live")
        for secret in self.webhook_secret_list():
            if len(secret) < 32:
                raise ValueError("WEBHOOK_SECRETS: every secret must be at least 32 characters")
        return self

    # Derived views, so callers never parse settings themselves.
    def webhook_secret_list(self) -> list[str]:
        return list(_split_csv(self.webhook_secrets.get_secret_value()))

    def notify_url_list(self) -> list[str]:
        return list(_split_csv(self.notify_urls.get_secret_value()))

    @property
    def is_paper(self) -> bool:
        return self.trading_mode is TradingMode.PAPER


SETTING_GROUPS: list[tuple[str, type[BaseModel]]] = [
    ("Database", DatabaseSettings),
    ("Exchange", ExchangeSettings),
    ("Simulator (paper mode)", SimulatorSettings),
    ("Trading thresholds", TradingSettings),
    ("Risk limits", RiskSettings),
    ("Webhook server", WebhookSettings),
    ("Alert sizing", AlertSizingSettings),
    ("Sighook", SighookSettings),
    ("Tax", TaxSettings),
    ("Execution (working orders)", ExecutionSettings),
    ("Passive market making", PassiveSettings),
    ("Logging", LoggingSettings),
    ("Order previews and degraded mode", ExchangeResilienceSettings),
    ("Local state", LocalStateSettings),
    ("Trailing-stop history and diagnose", HistorySettings),
    ("Durability and account safety", DurabilitySettings),
    ("High availability", HighAvailabilitySettings),
    ("Replay", ReplaySettings),
]


class SettingsError(Exception):
    """A setting is invalid; the message is one line naming it."""


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the env var; the first line is what the CLI prints."""
    parts = []
    for err in exc.errors():
        loc = err.get("loc") or ()
        name = str(loc[0]).upper() if loc else ""
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        given = err.get("input")
        shown = "" if not name or isinstance(given, dict) or _is_secret_field(name) else f" (got {given!r})"
        parts.append(f"{name}: {msg}{shown}" if name else msg)
    return "; ".join(parts)


def _is_secret_field(name: str) -> bool:
    field = Settings.model_fields.get(name.lower())
    return field is not None and field.annotation in (SecretStr, SecretStr | None)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; raise SettingsError with a one-line message naming the bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("invalid setting " + format_validation_error(exc)) from None


def env_example() -> str:
    """The text of `.env.example`: every setting, grouped, with its description and default."""
    lines = [
        "# bottrader settings. Copy to .env and edit; every line shows the default.",
        "# Generated by `python main.py config example` — do not edit by hand.",
    ]
    for title, group in SETTING_GROUPS:
        lines += ["", f"# ---- {title} ----"]
        for name, field in group.model_fields.items():
            if field.description:
                lines.append(f"# {field.description}")
            default = field.get_default(call_default_factory=True)
            lines.append(f"{name.upper()}={_render_default(default)}")
    return "\n".join(lines) + "\n"


def _render_default(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, Path):
        try:
            return str(value.relative_to(PROJECT_ROOT))
        except ValueError:
            return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
