"""All configuration, in one pydantic-settings class.

Every setting is read from the environment (or `.env`) here and nowhere else. The class is built
from one mixin per concern so related settings sit together (sections in `infra`, `trading` and
`records`, composed in `model`); the env var of a field is its name in upper case
(``stop_loss_hard_pct`` ↔ ``STOP_LOSS_HARD_PCT``). Percentages are in percent units (``-5`` means
−5 %). Run ``python main.py config example`` to regenerate `.env.example`.
"""

from core.settings.common import LIVE_CONFIRMATION_PHRASE, PROJECT_ROOT, CsvList, LogFormat, TradingMode
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
from core.settings.model import (
    SETTING_GROUPS,
    Settings,
    SettingsError,
    env_example,
    format_validation_error,
    load_settings,
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

__all__ = [
    "LIVE_CONFIRMATION_PHRASE", "PROJECT_ROOT", "SETTING_GROUPS", "AlertSizingSettings", "CsvList",
    "DatabaseSettings", "DurabilitySettings", "ExchangeResilienceSettings", "ExchangeSettings", "ExecutionSettings",
    "HighAvailabilitySettings", "HistorySettings", "LocalStateSettings", "LogFormat", "LoggingSettings",
    "PassiveSettings", "ReplaySettings", "RiskSettings", "Settings", "SettingsError", "SighookSettings",
    "SimulatorSettings", "TaxSettings", "TradingMode", "TradingSettings", "WebhookSettings", "env_example",
    "format_validation_error", "load_settings",
]
