"""Copies of alert bodies that are safe to store: secrets masked, Decimals as strings (JSONB-ready)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

MASK = "***"
_SECRET_KEY = re.compile(r"(secret|passw|passphrase|token|api_?key|private_?key|authorization|^key$)", re.IGNORECASE)


class PayloadMasker:
    """Masks secret-named fields at any depth and every configured secret value inside any string."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = tuple(s for s in secrets if s)

    def mask(self, obj: dict[str, Any]) -> dict[str, Any]:
        masked = self._walk(obj)
        assert isinstance(masked, dict)
        return masked

    def _walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                self._text(str(k)): MASK if _secret_name(str(k)) and v not in (None, "") else self._walk(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, Decimal):
            return str(value)
        return value

    def _text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


def _secret_name(key: str) -> bool:
    # Alert bodies reuse a handful of key names: remember the regex's answer per name (bounded).
    found = _NAME_MEMO.get(key)
    if found is None:
        found = bool(_SECRET_KEY.search(key))
        if len(_NAME_MEMO) < 4096:
            _NAME_MEMO[key] = found
    return found


_NAME_MEMO: dict[str, bool] = {}


def jsonable(value: Any) -> Any:
    """Decimal → str recursively, for JSONB columns."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value
