"""Plain-text alerts over real HTTP: the secret in the path, resends recognised, bad lines refused and kept."""

from __future__ import annotations

from decimal import Decimal

from tests.integration.webhook_http.support import SECRET, Harness


async def test_a_plain_text_alert_is_accepted_and_its_resends_are_duplicates(harness: Harness) -> None:
    path = f"/webhook/{SECRET}"
    assert (await harness.post(path, "buy BTCUSD $50", content_type="text/plain"))[1]["result"] == "accepted"
    harness.clock.advance(5)  # TradingView resends 5 s apart, identical bodies
    for _ in range(3):
        status, body = await harness.post(path, "buy BTCUSD $50", content_type="text/plain")
        assert (status, body) == (200, {"result": "duplicate"})
    harness.clock.advance(61)  # past the resend window: the same line is a new firing
    assert (await harness.post(path, "buy BTCUSD $50", content_type="text/plain"))[1]["result"] == "accepted"
    assert await harness.drain() == 2
    calls = harness.executor.calls
    expected = ("BTC-USD", "buy", Decimal("50"), None)
    assert [(c.symbol, c.action, c.notional, c.quantity) for c in calls] == [expected] * 2
    rows = await harness.rows()
    assert sorted(r.status for r in rows) == ["duplicate"] * 3 + ["ordered"] * 2
    assert all(r.payload == {"text": "buy BTCUSD $50"} for r in rows)


async def test_bad_lines_get_the_grammar_and_are_recorded(harness: Harness) -> None:
    path = f"/webhook/{SECRET}"
    status, body = await harness.post(path, b"buy BTC\x00USD", content_type="text/plain")
    assert (status, body["reason"]) == (400, "bad_text") and "<action> <symbol>" in body["error"]
    status, body = await harness.post(path, f"buy DOGEUSD {SECRET}", content_type="text/plain")
    assert (status, body["reason"]) == (400, "bad_text")
    status, body = await harness.post("/webhook", "buy BTCUSD", content_type="text/plain")  # no path secret
    assert (status, body) == (400, {"result": "invalid", "reason": "not_json", "error": "body is not a valid alert"})
    status, body = await harness.post(path, "close DOGEUSD", content_type="text/plain")
    assert (status, body["reason"]) == (422, "unknown_product")
    rows = await harness.rows()
    assert sorted(r.reason_code for r in rows) == ["bad_text", "bad_text", "not_json", "unknown_product"]
    assert all(SECRET not in str(r.payload) and SECRET not in (r.status_reason or "") for r in rows)
    assert await harness.drain() == 0 and harness.executor.calls == []
