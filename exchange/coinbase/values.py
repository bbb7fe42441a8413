"""Tolerant readers for exchange JSON values: Decimal from strings/ints, times, ints from strings.

Coinbase sends numbers as strings but some fields as JSON numbers (`total_volume`, `heartbeat_counter`);
empty strings mean "unset"; `0001-01-01T00:00:00Z` means "no time" on the user channel.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.clock import parse_rfc3339
from core.money import to_decimal


def dec(value: Any, default: Decimal | None = None) -> Decimal:
    """A required Decimal; `default` when the value is absent/empty (error if no default)."""
    parsed = opt_dec(value)
    if parsed is None:
        if default is None:
            raise ValueError(f"missing decimal value: {value!r}")
        return default
    return parsed


def opt_dec(value: Any) -> Decimal | None:
    if type(value) is str:  # the common case, on the hot WebSocket path: what to_decimal does, minus the dispatch
        if not value or value.isspace():
            return None
        try:
            return Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal: {value!r}") from exc
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        # A JSON number the server wrote; its shortest repr is the text it sent (never arithmetic on floats).
        value = repr(value)
    if isinstance(value, str) and not value.strip():
        return None
    try:
        return to_decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not a decimal: {value!r}") from exc


def opt_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return int(Decimal(text))
    except InvalidOperation as exc:
        raise ValueError(f"not an integer: {value!r}") from exc


def opt_time(value: Any) -> datetime | None:
    """RFC 3339 (up to 9 fractional digits) or UNIX seconds; None for empty or year-1 sentinels."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    if text.startswith("0001-01-01"):
        return None
    # Fast path for the usual `YYYY-MM-DDTHH:MM:SS.fffffffffZ` (up to 9 digits; Python keeps 6).
    if len(text) > 20 and text[19] == "." and text[-1] == "Z" and text[10] == "T":
        frac = text[20:-1]
        if frac.isdigit():
            try:
                return datetime.fromisoformat(f"{text[:19]}.{frac[:6].ljust(6, '0')}+00:00")
            except ValueError:
                pass
    try:
        return parse_rfc3339(text)
    except ValueError as exc:
        raise ValueError(f"not a timestamp: {value!r}") from exc


def opt_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text else None


def opt_bool(value: Any) -> bool | None:
    """Booleans that arrive as JSON booleans or as the strings "true"/"false"."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"not a boolean: {value!r}")
