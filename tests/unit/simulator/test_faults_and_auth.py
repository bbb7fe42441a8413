"""Fault rule scheduling, JWT verification with the SDK's own token builder, keys and certificates."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from coinbase import jwt_generator
from cryptography import x509

from simulator.faults import FaultInjector
from simulator.http.auth import AuthFailure, JwtVerifier, bearer_token
from simulator.keys import KeyPermissions, KeyStore, append_to_keys_file, generate_key_pair
from simulator.tls import ensure_certificates


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_count_probability_window_and_path() -> None:
    clock = FakeClock()
    f = FaultInjector(seed=1, clock=clock)
    f.add("http_429", count=2, path="/orders", method="POST")
    assert f.take("http_429", "/accounts", "GET") is None
    assert f.take("http_429", "/orders", "GET") is None
    assert f.take("http_429", "/orders", "POST") is not None
    assert f.take("http_429", "/orders", "POST") is not None
    assert f.take("http_429", "/orders", "POST") is None  # used up
    f.add("http_5xx", for_s=10, start_in_s=5, path="/products/*")
    assert f.take("http_5xx", "/products/BTC-USD") is None  # not started
    clock.t += 6
    assert f.take("http_5xx", "/products/BTC-USD") is not None
    assert f.active("http_5xx")
    clock.t += 10
    assert f.take("http_5xx", "/products/BTC-USD") is None and not f.active("http_5xx")
    f.add("http_401", probability=0.5)
    fired = sum(1 for _ in range(1000) if f.take("http_401"))
    assert 400 < fired < 600
    assert f.clear("http_401") == 1 and f.rules() == []
    with pytest.raises(ValueError):
        f.add("no_such_fault")
    with pytest.raises(ValueError):
        f.add("http_401", probability=2)


def test_jwt_verification_with_sdk_tokens(tmp_path: Path) -> None:
    store = KeyStore()
    ec_key, ed_key = generate_key_pair("ec"), generate_key_pair("ed25519")
    store.register(ec_key.name, ec_key.public_pem)
    store.register(ed_key.name, ed_key.public_pem)
    v = JwtVerifier(store)
    uri = "GET 127.0.0.1:8443/api/v3/brokerage/accounts"
    for key in (ec_key, ed_key):
        token = jwt_generator.build_rest_jwt(uri, key.name, key.private_pem)
        assert not isinstance(v.verify(token, uri), AuthFailure)
        assert isinstance(v.verify(token, "POST 127.0.0.1:8443/api/v3/brokerage/accounts"), AuthFailure)
        ws_token = jwt_generator.build_ws_jwt(key.name, key.private_pem)
        assert not isinstance(v.verify(ws_token, None), AuthFailure)
    stranger = generate_key_pair()
    assert isinstance(v.verify(jwt_generator.build_ws_jwt(stranger.name, stranger.private_pem), None), AuthFailure)
    # Signed by a registered name with the wrong private key.
    forged = jwt_generator.build_ws_jwt(ec_key.name, stranger.private_pem)
    assert isinstance(v.verify(forged, None), AuthFailure)
    assert isinstance(v.verify("not-a-jwt", None), AuthFailure)
    assert isinstance(JwtVerifier(store, accept_ed25519=False).verify(
        jwt_generator.build_ws_jwt(ed_key.name, ed_key.private_pem), None), AuthFailure)


def _token(key_name: str, pem: str, **claims: object) -> str:
    now = int(time.time())
    payload = {"sub": key_name, "iss": "cdp", "nbf": now, "exp": now + 120} | claims
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(pem.encode(), password=None)
    return jwt.encode(payload, private, algorithm="ES256", headers={"kid": key_name, "nonce": "ab" * 32})  # type: ignore[arg-type]


def test_jwt_claims_rules() -> None:
    store = KeyStore()
    k = generate_key_pair()
    store.register(k.name, k.public_pem)
    v = JwtVerifier(store, leeway_s=5)
    now = int(time.time())
    assert not isinstance(v.verify(_token(k.name, k.private_pem, iss="coinbase-cloud"), None), AuthFailure)
    assert isinstance(JwtVerifier(store, accept_legacy_iss=False).verify(
        _token(k.name, k.private_pem, iss="coinbase-cloud"), None), AuthFailure)
    assert isinstance(v.verify(_token(k.name, k.private_pem, iss="other"), None), AuthFailure)
    assert isinstance(v.verify(_token(k.name, k.private_pem, sub="someone-else"), None), AuthFailure)
    assert isinstance(v.verify(_token(k.name, k.private_pem, exp=now - 30), None), AuthFailure)
    assert isinstance(v.verify(_token(k.name, k.private_pem, nbf=now + 60), None), AuthFailure)
    assert not isinstance(v.verify(_token(k.name, k.private_pem, nbf=now + 3), None), AuthFailure)  # leeway
    strict = JwtVerifier(store, max_lifetime_s=120, reject_reused_nonce=True)
    token = _token(k.name, k.private_pem)
    assert not isinstance(strict.verify(token, None), AuthFailure)
    assert isinstance(strict.verify(token, None), AuthFailure)  # nonce reused
    assert isinstance(strict.verify(_token(k.name, k.private_pem, exp=now + 600), None), AuthFailure)
    assert bearer_token("Bearer abc") == "abc" and bearer_token("Basic abc") is None and bearer_token(None) is None


def test_key_formats_and_keys_file(tmp_path: Path) -> None:
    ec_key, ed_key = generate_key_pair("ec"), generate_key_pair("ed25519")
    assert ec_key.private_pem.startswith("-----BEGIN EC PRIVATE KEY-----")
    assert ed_key.private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert ec_key.name.startswith("organizations/") and "/apiKeys/" in ec_key.name
    path = tmp_path / "keys.json"
    store = KeyStore(path)
    assert store.lookup(ec_key.name) is None
    append_to_keys_file(path, ec_key.name, ec_key.public_pem, KeyPermissions(can_transfer=True))
    found = store.lookup(ec_key.name)  # picked up from the file without a restart
    assert found is not None and found.permissions.can_transfer is True
    append_to_keys_file(path, ec_key.name, ec_key.public_pem)
    assert len(json.loads(path.read_text())) == 1
    with pytest.raises(ValueError):
        generate_key_pair("rsa")


def test_certificates_cover_loopback_and_are_reused(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    cert = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}
    before = files.cert_file.read_bytes()
    assert ensure_certificates(tmp_path).cert_file.read_bytes() == before
    assert files.server_context() is not None and files.client_context() is not None
    ensure_certificates(tmp_path, host="sim.internal")  # a new host → a new certificate
    assert files.cert_file.read_bytes() != before


def test_active_respects_the_path_filter() -> None:
    f = FaultInjector(clock=FakeClock())
    f.add("ws_minimal_user", path="/ws/user")
    assert f.active("ws_minimal_user", "/ws/user") and not f.active("ws_minimal_user", "/ws")
    f.load([{"kind": "http_5xx", "count": 1, "params": {"status": 502}}])
    rule = f.take("http_5xx", "/accounts", "GET")
    assert rule is not None and rule.params == {"status": 502} and f.take("http_5xx") is None
