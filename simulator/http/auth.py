"""Verification of the SDK's CDP JWTs (ES256 / EdDSA) against registered public keys."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from simulator.keys import KeyStore, RegisteredKey

ISSUERS = ("cdp", "coinbase-cloud")
_NONCE_MEMORY = 10_000


@dataclass(frozen=True, slots=True)
class AuthFailure:
    reason: str  # for logs only; clients always get the same 401


class JwtVerifier:
    def __init__(self, keys: KeyStore, *, leeway_s: float = 5.0, accept_ed25519: bool = True,
                 accept_legacy_iss: bool = True, max_lifetime_s: int | None = None,
                 reject_reused_nonce: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.keys = keys
        self.leeway_s = leeway_s
        self.algorithms = ["ES256", "EdDSA"] if accept_ed25519 else ["ES256"]
        self.issuers = ISSUERS if accept_legacy_iss else ("cdp",)
        self.max_lifetime_s = max_lifetime_s
        self.reject_reused_nonce = reject_reused_nonce
        self._clock = clock
        self._nonces: OrderedDict[str, None] = OrderedDict()

    def verify(self, token: str, expected_uri: str | None) -> RegisteredKey | AuthFailure:
        """expected_uri: "METHOD host/path" for REST; None for WebSocket (the token must have no uri)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            return AuthFailure(f"bad header: {exc}")
        kid = header.get("kid")
        if not isinstance(kid, str):
            return AuthFailure("no kid")
        key = self.keys.lookup(kid)
        if key is None:
            return AuthFailure("unknown kid")
        try:
            claims = jwt.decode(
                token, key.public_key, algorithms=self.algorithms, leeway=self.leeway_s,
                options={"require": ["sub", "iss", "nbf", "exp"], "verify_aud": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            return AuthFailure(f"invalid token: {exc}")
        if claims.get("sub") != kid:
            return AuthFailure("sub != kid")
        if claims.get("iss") not in self.issuers:
            return AuthFailure("bad iss")
        if expected_uri is not None and claims.get("uri") != expected_uri:
            return AuthFailure(f"uri mismatch: {claims.get('uri')!r} != {expected_uri!r}")
        if self.max_lifetime_s is not None and int(claims["exp"]) - int(claims["nbf"]) > self.max_lifetime_s:
            return AuthFailure("lifetime too long")
        if self.reject_reused_nonce:
            nonce = str(header.get("nonce", ""))
            if not nonce or nonce in self._nonces:
                return AuthFailure("nonce reused")
            self._nonces[nonce] = None
            while len(self._nonces) > _NONCE_MEMORY:
                self._nonces.popitem(last=False)
        return key


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
