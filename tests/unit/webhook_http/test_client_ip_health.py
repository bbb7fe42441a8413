"""Client address resolution behind proxies, direct-loopback detection, readiness, notification pacing."""

from __future__ import annotations

import pytest

from webhook.http.client_ip import UNKNOWN_IP, in_networks, is_direct_loopback, parse_networks, resolve_client_ip
from webhook.http.deps import HealthReport
from webhook.http.ops_routes import assess_health
from webhook.notifications import due

PROXY = parse_networks(["10.0.0.5", "127.0.0.1"], "WEBHOOK_TRUSTED_PROXIES")


def test_forwarded_for_is_used_only_behind_a_trusted_proxy() -> None:
    assert resolve_client_ip("203.0.113.9", ["52.89.214.238"], PROXY) == "203.0.113.9"
    assert resolve_client_ip("10.0.0.5", ["52.89.214.238"], PROXY) == "52.89.214.238"
    assert resolve_client_ip("10.0.0.5", ["52.89.214.238, 127.0.0.1"], PROXY) == "52.89.214.238"  # chained proxies
    # The leftmost entries are the client's to write: only the hop our proxy saw counts.
    assert resolve_client_ip("10.0.0.5", ["52.89.214.238, 198.51.100.1"], PROXY) == "198.51.100.1"
    assert resolve_client_ip("10.0.0.5", ["a", "198.51.100.1"], PROXY) == "198.51.100.1"  # several headers
    assert resolve_client_ip("10.0.0.5", [], PROXY) == "10.0.0.5"
    assert resolve_client_ip("10.0.0.5", ["not-an-ip"], PROXY) == UNKNOWN_IP
    assert resolve_client_ip(None, [], PROXY) == UNKNOWN_IP
    assert resolve_client_ip("::ffff:10.0.0.5", ["1.2.3.4"], PROXY) == "1.2.3.4"
    assert resolve_client_ip("10.0.0.5", ["1.2.3.4"], ()) == "10.0.0.5"


def test_allow_lists_take_addresses_and_networks() -> None:
    nets = parse_networks(["52.89.214.238", "192.0.2.0/24", "2001:db8::/32"], "WEBHOOK_ALLOWED_IPS")
    assert in_networks("52.89.214.238", nets) and in_networks("192.0.2.77", nets) and in_networks("2001:db8::1", nets)
    assert not in_networks("52.89.214.239", nets) and not in_networks(UNKNOWN_IP, nets)
    with pytest.raises(ValueError, match="WEBHOOK_ALLOWED_IPS: 'nope'"):
        parse_networks(["nope"], "WEBHOOK_ALLOWED_IPS")


def test_direct_loopback_excludes_relayed_requests() -> None:
    assert is_direct_loopback("127.0.0.1", False, ())
    assert is_direct_loopback("::1", False, ())
    assert not is_direct_loopback("127.0.0.1", True, ())  # a local proxy relaying someone
    assert not is_direct_loopback("127.0.0.1", False, PROXY)  # a configured proxy is never "local"
    assert not is_direct_loopback("192.0.2.1", False, ())
    assert not is_direct_loopback(None, False, ())


def _report(**kw: object) -> HealthReport:
    base: dict[str, object] = {"database_ok": True, "websocket_connected": True, "websocket_age_s": 2.0,
                               "matrix_age_s": None, "breakers": {"daily_loss": True}}
    base.update(kw)
    return HealthReport(**base)  # type: ignore[arg-type]


def test_readiness_needs_the_database_and_fresh_market_data_only() -> None:
    ready, body = assess_health(_report(), ws_max_age_s=10, matrix_max_age_s=300)
    assert ready and body["breakers"]["tripped"] == ["daily_loss"] and body["matrix"]["fresh"] is False
    assert assess_health(_report(websocket_age_s=10.5), 10, 300)[1]["problems"] == ["websocket_stale"]
    assert assess_health(_report(websocket_age_s=None), 10, 300)[1]["problems"] == ["websocket_stale"]
    not_ready, body = assess_health(_report(database_ok=False, websocket_connected=False), 10, 300)
    assert not not_ready and body["problems"] == ["database", "websocket_disconnected"]


def test_notifications_are_due_once_per_interval() -> None:
    assert due(None, 0.0, 300)
    assert not due(0.0, 299.9, 300)
    assert due(0.0, 300.0, 300)
    assert due(5.0, 5.0, 0)
