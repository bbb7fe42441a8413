"""structlog set-up: JSON lines (console rendering on a TTY) with secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

REDACTED = "***"
# Field names whose values are never logged, whatever their content.
_SECRET_KEYS = re.compile(r"(secret|password|passwd|token|api_key|private_key|jwt|authorization|notify_urls)",
                          re.IGNORECASE)
# Passwords inside URLs: scheme://user:password@host
_URL_PASSWORD = re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s/]+)(?P<post>@)")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+")


class SecretRedactor:
    """Removes known secret values and secret-shaped text from every log event."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = {s for s in secrets if s and len(s) >= 6}

    def add(self, *secrets: str) -> None:
        self._secrets.update(s for s in secrets if s and len(s) >= 6)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            text = value
            # Each pattern needs a literal marker: a substring test is far cheaper than a regex pass,
            # and most log values (ids, symbols, numbers) carry none of them.
            if "PRIVATE KEY" in text:
                text = _PEM.sub(REDACTED, text)
            if "://" in text:
                text = _URL_PASSWORD.sub(lambda m: f"{m['pre']}{REDACTED}{m['post']}", text)
            if "Bearer" in text:
                text = _BEARER.sub(lambda m: f"{m[1]}{REDACTED}", text)
            for secret in self._secrets:
                if secret in text:
                    text = text.replace(secret, REDACTED)
            return text
        if isinstance(value, dict):
            return {k: (REDACTED if _is_secret_key(k, v) else self.scrub(v)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.scrub(v) for v in value)
        return value

    def __call__(self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            val = event_dict[key]
            event_dict[key] = REDACTED if _is_secret_key(key, val) else self.scrub(val)
        return event_dict


def _is_secret_key(key: Any, value: Any) -> bool:
    if not isinstance(key, str):
        return False
    secret = _SECRET_KEY_MEMO.get(key)
    if secret is None:
        secret = bool(_SECRET_KEYS.search(key))
        if len(_SECRET_KEY_MEMO) < _MEMO_MAX:  # field names are few; a flood of odd keys is not cached
            _SECRET_KEY_MEMO[key] = secret
    return secret and value not in (None, "", False)


# Field name → is it a secret's name. Log events reuse a small set of names, so every event paid
# for the same regex searches again.
_SECRET_KEY_MEMO: dict[str, bool] = {}
_MEMO_MAX = 4096


redactor = SecretRedactor()


def mask_key(key: str) -> str:
    """Show enough of an API key name to recognise it, never all of it."""
    return key if len(key) <= 8 else f"{key[:4]}…{key[-4:]}"


class _SafeStderr:
    """stderr that never raises: a closed log pipe must not break the daemon's loops."""

    def write(self, text: str) -> int:
        try:
            return sys.stderr.write(text)
        except (OSError, ValueError):
            return 0

    def flush(self) -> None:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


def configure_logging(level: str = "INFO", fmt: str = "auto", secrets: Iterable[str] = ()) -> None:
    redactor.add(*secrets)
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer(
        default=str
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=_SafeStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    # Libraries that use stdlib logging (alembic, aiohttp) go through the same redaction.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name) if name else structlog.get_logger()
