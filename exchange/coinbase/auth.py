"""JWTs for WebSocket subscribe messages (REST requests are signed by the SDK itself, per request)."""

from __future__ import annotations

from collections.abc import Callable

from coinbase import jwt_generator


def normalise_secret(api_secret: str) -> str:
    """The SDK unescapes the secret (`\\n` in an env var → newline); do the same for our own JWTs."""
    return bytes(api_secret, encoding="utf8").decode("unicode_escape")


def build_ws_jwt(api_key: str, api_secret: str) -> str:
    """A fresh JWT without `uri` (valid 120 s): one per subscribe/unsubscribe message."""
    return jwt_generator.build_ws_jwt(api_key, normalise_secret(api_secret))


def ws_jwt_factory(api_key: str, api_secret: str) -> Callable[[], str] | None:
    """A callable producing a fresh JWT per call, or None when no key is configured (public channels)."""
    if not api_key or not api_secret:
        return None
    secret = normalise_secret(api_secret)
    return lambda: jwt_generator.build_ws_jwt(api_key, secret)
