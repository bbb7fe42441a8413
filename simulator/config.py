"""SimulatorConfig: everything one simulator instance needs (the Settings' SIM_* group plus test knobs)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.engine.book import BookParams
from simulator.engine.matching import EngineConfig

if TYPE_CHECKING:
    from core.settings import Settings


def _default_products() -> list[str]:
    return ["BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD", "LTC-USD"]


def _default_balances() -> dict[str, Decimal]:
    return {"USD": Decimal("10000")}


@dataclass
class SimulatorConfig:
    state_dir: Path = Path("var/simulator")  # certificates (CA + server) and the keys file
    host: str = "127.0.0.1"
    rest_port: int = 0  # 0 = an ephemeral port
    ws_port: int = 0
    seed: int = 42
    products: list[str] = field(default_factory=_default_products)
    volatility: Decimal = Decimal("0.0005")  # per tick
    drift: Decimal = Decimal("0")
    product_params: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # id → (volatility, drift)
    initial_prices: dict[str, Decimal] = field(default_factory=dict)
    tick_interval_s: float = 1.0
    clock_speed: float = 1.0
    auto_tick: bool = True  # False: prices move only via set_price()/step()
    initial_balances: dict[str, Decimal] = field(default_factory=_default_balances)
    maker_fee_rate: Decimal = Decimal("0.006")
    taker_fee_rate: Decimal = Decimal("0.012")
    pricing_tier: str = "Intro 1"
    fills_lag_s: float = 0.0  # REST fills appear this long after the fill (R12)
    replay_csv: Path | None = None
    history_minutes: int = 1500  # seeded one-minute candles before the start
    maker_fill_notional_per_tick: Decimal = Decimal("10000")
    book: BookParams = field(default_factory=BookParams)
    cancel_delay_s: float = 0.0  # CANCEL_QUEUED lingers this long
    emit_cancel_queued: bool = True
    fill_on_touch: bool = False
    # Authentication
    jwt_leeway_s: float = 5.0
    jwt_host: str | None = None  # expected host in the REST `uri` claim; None = the request's Host header
    accept_ed25519: bool = True
    accept_legacy_iss: bool = True  # iss "coinbase-cloud"
    max_jwt_lifetime_s: int | None = None  # strict: exp − nbf ≤ this
    reject_reused_nonce: bool = False
    tls_hostnames: list[str] = field(default_factory=list)  # extra SAN names (e.g. a compose service)
    persist_keys: bool = False  # write create_api_key()/register_key() keys to the keys file
    # REST shape and limits
    accounts_page_default: int = 49
    accounts_page_max: int = 250
    max_candles_per_request: int = 350
    enforce_rate_limits: bool = False
    private_rate_per_s: int = 30
    public_rate_per_s: int = 10
    # WebSocket shape
    ws_subscribe_deadline_s: float = 5.0
    ws_omit_client_id: bool = False
    heartbeat_counter_as_string: bool = False
    ws_snapshot_before_ack: bool = False
    ticker_batch_interval_s: float = 5.0
    ticker_batch_best_bid_ask: bool = True
    user_stop_limit_type: str = "Stop Limit"  # or "StopLimit"
    ws_idle_close_s: float | None = None  # close connections without heartbeats after this long idle (W9)
    ws_max_connections_per_s: int | None = None  # refuse more handshakes per second (W15)
    # Durable books (simulator/store.py): on for `both` and the standalone simulator (from_settings);
    # tests and benches that build a config by hand get a fresh exchange unless they ask.
    persist: bool = False
    state_synchronous: str = "NORMAL"  # SQLite synchronous: NORMAL survives kill -9, FULL also power loss

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            seed=self.seed, volatility=self.volatility, drift=self.drift, product_params=dict(self.product_params),
            maker_fee_rate=self.maker_fee_rate, taker_fee_rate=self.taker_fee_rate, book=self.book,
            maker_fill_notional_per_tick=self.maker_fill_notional_per_tick, tick_interval_s=self.tick_interval_s,
            history_minutes=self.history_minutes, cancel_delay_s=self.cancel_delay_s,
            emit_cancel_queued=self.emit_cancel_queued, fill_on_touch=self.fill_on_touch,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SimulatorConfig:
        """The SIM_* settings, with keyword overrides for any field."""
        base: dict[str, Any] = {
            "host": settings.sim_host,
            "rest_port": settings.sim_rest_port,
            "ws_port": settings.sim_ws_port,
            "state_dir": Path(settings.sim_state_dir),
            "seed": settings.sim_seed,
            "products": list(settings.sim_products),
            "volatility": settings.sim_volatility,
            "drift": settings.sim_drift,
            "tick_interval_s": settings.sim_tick_interval_s,
            "clock_speed": settings.sim_clock_speed,
            "initial_balances": {"USD": settings.sim_initial_usd},
            "replay_csv": settings.sim_replay_csv,
            "tls_hostnames": list(settings.sim_tls_hostnames),
            "persist": True,
        }
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown SimulatorConfig fields: {', '.join(sorted(unknown))}")
        base.update(overrides)
        return cls(**base)
