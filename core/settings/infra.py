"""Settings sections of the process and its surroundings: database, exchange, simulator, logging,
local state, durability, exchange resilience, high availability."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator

from core.settings.common import LIVE_CONFIRMATION_PHRASE, PROJECT_ROOT, CsvList, LogFormat, TradingMode, _split_csv


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


class LoggingSettings(BaseModel):
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$", description="Level.")
    log_format: LogFormat = Field(default=LogFormat.AUTO, description="auto, json or console.")


# ---- Durability and account safety (issue #17) ----
class DurabilitySettings(BaseModel):
    fill_record_attempts: int = Field(default=3, ge=1, le=20, description="Tries to record a fill before it is "
                                      "dead-lettered (its product's entries halt until `fills retry`).")
    fill_dead_letter_watch_s: float = Field(default=5.0, gt=0, description="How often the daemon re-checks "
                                            "dead-lettered fills (re-notifies, notices `fills retry`).")
    crash_loop_restarts: int = Field(default=3, ge=1, description="A loop restarted this often within "
                                     "CRASH_LOOP_WINDOW_S makes /health not ready.")
    crash_loop_window_s: float = Field(default=300.0, gt=0, description="Window of CRASH_LOOP_RESTARTS.")


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
