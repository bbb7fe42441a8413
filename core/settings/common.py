"""What every settings section shares: the project root, list parsing, the mode enums."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic_settings import NoDecode

# core/settings/common.py → the checkout's root
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent

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
