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


class LoggingSettings(BaseModel):
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$", description="Level.")
    log_format: LogFormat = Field(default=LogFormat.AUTO, description="auto, json or console.")


# ---- Replay (issue 22): `python main.py replay` ----
class ReplaySettings(BaseModel):
    replay_max_gap_candles: int = Field(
        default=5, ge=0, description="Replay data may miss at most this many candles in a row (else an error)."
    )
    replay_report_dir: Path = Field(
        default=PROJECT_ROOT / "var" / "replay", description="Where `replay` writes its reports (--report)."
    )


class Settings(
    ReplaySettings,
    LoggingSettings,
    TaxSettings,
    SighookSettings,
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
    ("Sighook", SighookSettings),
    ("Tax", TaxSettings),
    ("Logging", LoggingSettings),
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
