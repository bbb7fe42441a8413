"""Query-string parsing as the SDK sends it: repeated keys for lists, `True`/`False` booleans."""

from __future__ import annotations

from datetime import datetime

from multidict import MultiMapping

from core.clock import parse_rfc3339
from simulator.http.errors import BadRequest


class Query:
    def __init__(self, query: MultiMapping[str]) -> None:
        self._q = query

    def many(self, name: str) -> list[str]:
        """Repeated keys; a comma-joined value is split too (lenient)."""
        out: list[str] = []
        for value in self._q.getall(name, []):
            out.extend(v.strip() for v in value.split(",") if v.strip())
        return out

    def one(self, name: str) -> str | None:
        value = self._q.get(name)
        return value if value not in (None, "") else None

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.one(name)
        if value is None:
            return default
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise BadRequest(f"{name} must be a boolean")

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.one(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise BadRequest(f"{name} must be an integer") from None
        if number < minimum or (maximum is not None and number > maximum):
            raise BadRequest(f"{name} out of range")
        return number

    def time(self, name: str) -> datetime | None:
        value = self.one(name)
        if value is None:
            return None
        try:
            return parse_rfc3339(value)
        except ValueError:
            raise BadRequest(f"{name} must be an RFC 3339 time") from None

    def cursor(self) -> int:
        value = self.one("cursor")
        if value is None:
            return 0
        if not value.isdigit():
            raise BadRequest("invalid cursor")
        return int(value)
