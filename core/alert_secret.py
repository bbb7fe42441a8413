"""The alert secret of a paper run without WEBHOOK_SECRETS: kept in a file the user can read.

The first paper run writes a random secret to WEBHOOK_SECRET_FILE (default `var/webhook-secret`,
mode 0600); later runs, and a separate sighook process (or container sharing the state volume), read
the same file, so `$(cat var/webhook-secret)` works in the README's alert example. Live mode never
generates one: WEBHOOK_SECRETS is required there.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from core.settings import Settings

MIN_SECRET_LENGTH = 32


class AlertSecretError(RuntimeError):
    """The secret file exists but cannot be used (too short, unreadable)."""


def read_or_create_secret(path: Path) -> tuple[str, bool]:
    """The secret in `path`, creating it (0600, atomically: two processes agree) when absent.

    The secret is written to a private temporary file first and then hard-linked to `path`: the link
    fails if `path` exists, so exactly one creator wins, and no reader ever sees a half-written file
    (webhook and sighook start together under compose). Returns (secret, created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        candidate = secrets.token_urlsafe(32)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(candidate + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
                return candidate, True
            except FileExistsError:
                pass  # another process won: read what it wrote
        finally:
            tmp.unlink(missing_ok=True)
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < MIN_SECRET_LENGTH:
        raise AlertSecretError(f"{path}: the alert secret must be at least {MIN_SECRET_LENGTH} characters "
                               "(delete the file to get a new one)")
    return secret, False


def with_paper_secret(settings: Settings) -> tuple[Settings, Path | None, bool]:
    """Settings with an alert secret: WEBHOOK_SECRETS if set, else (paper only) the secret file's.

    Returns (settings, the secret file when it was used, whether this call created it)."""
    if settings.webhook_secret_list() or not settings.is_paper:
        return settings, None, False
    path = settings.webhook_secret_file
    secret, created = read_or_create_secret(path)
    return settings.model_copy(update={"webhook_secrets": SecretStr(secret)}), path, created


def _is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost")


def with_paper_admin_token(settings: Settings) -> tuple[Settings, Path | None]:
    """Paper mode bound beyond loopback (docker compose) without ADMIN_TOKEN: a generated token in
    ADMIN_TOKEN_FILE, so a browser on the host can open the dashboard (password = the file's text)."""
    if settings.admin_token.get_secret_value() or not settings.is_paper or _is_loopback(settings.webhook_host):
        return settings, None
    token, _created = read_or_create_secret(settings.admin_token_file)
    return settings.model_copy(update={"admin_token": SecretStr(token)}), settings.admin_token_file
