"""CDP-style API key pairs for the simulator, and the store of registered public keys.

A key is a name (`organizations/{org}/apiKeys/{id}`) plus a private key the SDK signs JWTs with:
ECDSA P-256 as SEC1 PEM (`ES256`) or Ed25519 as PKCS#8 PEM (`EdDSA`). The simulator only ever
keeps the public half; the keys file lets a standalone simulator accept keys made by
`python main.py simulator-keygen` without a restart.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

KEYS_FILE_NAME = "keys.json"


@dataclass(frozen=True, slots=True)
class TestKey:
    """A generated key pair; `private_pem` is what the SDK takes as `api_secret`."""

    __test__ = False  # not a pytest test class

    name: str
    private_pem: str
    public_pem: str
    kind: str = "ec"


@dataclass(frozen=True, slots=True)
class KeyPermissions:
    can_view: bool = True
    can_trade: bool = True
    can_transfer: bool = False
    portfolio_uuid: str = "5f1c5e8c-2b1a-4c1e-9d8a-0b7d6c1f2a10"
    portfolio_type: str = "DEFAULT"

    def to_json(self) -> dict[str, Any]:
        return {
            "can_view": self.can_view,
            "can_trade": self.can_trade,
            "can_transfer": self.can_transfer,
            "portfolio_uuid": self.portfolio_uuid,
            "portfolio_type": self.portfolio_type,
        }


def new_key_name() -> str:
    return f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"


def generate_key_pair(kind: str = "ec", name: str | None = None) -> TestKey:
    """A fresh key pair: kind "ec" (P-256, SEC1 PEM) or "ed25519" (PKCS#8 PEM)."""
    private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if kind == "ec":
        private = ec.generate_private_key(ec.SECP256R1())
        private_pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    elif kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
        private_pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    else:
        raise ValueError(f"unknown key kind {kind!r} (use 'ec' or 'ed25519')")
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return TestKey(name=name or new_key_name(), private_pem=private_pem.decode(), public_pem=public_pem.decode(),
                   kind=kind)


PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def load_public_key(public_pem: str) -> PublicKey:
    key = serialization.load_pem_public_key(public_pem.encode())
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("EC keys must be on P-256")
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise ValueError(f"unsupported public key type {type(key).__name__}")


@dataclass
class RegisteredKey:
    name: str
    public_key: PublicKey
    public_pem: str
    permissions: KeyPermissions = field(default_factory=KeyPermissions)


class KeyStore:
    """Registered public keys by name; optionally persisted to (and re-read from) a JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._keys: dict[str, RegisteredKey] = {}
        self._file_mtime: float | None = None
        if path is not None:
            self.reload()

    def register(self, name: str, public_pem: str, permissions: KeyPermissions | None = None,
                 persist: bool = False) -> None:
        self._keys[name] = RegisteredKey(name, load_public_key(public_pem), public_pem,
                                         permissions or KeyPermissions())
        if persist and self._path is not None:
            append_to_keys_file(self._path, name, public_pem, permissions)

    def lookup(self, name: str) -> RegisteredKey | None:
        found = self._keys.get(name)
        if found is None and self._path is not None and self._file_changed():
            self.reload()  # a key registered by `simulator-keygen` while we run
            found = self._keys.get(name)
        return found

    def names(self) -> list[str]:
        return list(self._keys)

    def _file_changed(self) -> bool:
        try:
            return self._path is not None and self._path.stat().st_mtime != self._file_mtime
        except FileNotFoundError:
            return False

    def reload(self) -> None:
        if self._path is None or not self._path.exists():
            return
        self._file_mtime = self._path.stat().st_mtime
        for entry in read_keys_file(self._path):
            perms = KeyPermissions(**entry.get("permissions", {}))
            self._keys[entry["name"]] = RegisteredKey(entry["name"], load_public_key(entry["public_pem"]),
                                                      entry["public_pem"], perms)


def read_keys_file(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    data = json.loads(path.read_text() or "[]")
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of keys")
    return data


def append_to_keys_file(path: Path, name: str, public_pem: str, permissions: KeyPermissions | None = None) -> None:
    """Add (or replace) a public key in the keys file; written atomically."""
    entries = [e for e in read_keys_file(path) if e.get("name") != name]
    entries.append({"name": name, "public_pem": public_pem,
                    "permissions": (permissions or KeyPermissions()).to_json()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, indent=2))
    os.replace(tmp, path)
