"""The composed Settings class, its loader and the `.env.example` text."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.settings.common import LIVE_CONFIRMATION_PHRASE, PROJECT_ROOT, TradingMode, _split_csv
from core.settings.infra import (
    DatabaseSettings,
    DurabilitySettings,
    ExchangeResilienceSettings,
    ExchangeSettings,
    HighAvailabilitySettings,
    LocalStateSettings,
    LoggingSettings,
    SimulatorSettings,
)
from core.settings.records import HistorySettings, PassiveSettings, ReplaySettings, TaxSettings
from core.settings.trading import (
    AlertSizingSettings,
    ExecutionSettings,
    RiskSettings,
    SighookSettings,
    TradingSettings,
    WebhookSettings,
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
