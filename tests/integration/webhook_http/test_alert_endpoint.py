"""POST /webhook over real HTTP on 127.0.0.1 against a real PostgreSQL, with the real worker."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.enums import AlertStatus
from core.metrics import REGISTRY
from shared_data.db import create_engine, session_factory
from tests.integration.webhook_http.support import (
    SECRET,
    SECRET_OLD,
    Harness,
    RecordingExecutor,
    alert_body,
    clear_alerts,
    later,
    rfc3339,
    start_harness,
    stop_harness,
    wait_until,
)


def _alerts_metric(outcome: str) -> float:
    return REGISTRY.get_sample_value("bt_alerts_total", {"outcome": outcome}) or 0.0


def _tradingview_text(h: Harness) -> str:
    # What TradingView sends for a strategy alert: the message, as text/plain, placeholders expanded.
    return (
        '{"secret":"' + SECRET + '","id":"long-entry-' + rfc3339(h.clock.now()) + '","exchange":"COINBASE",'
        '"ticker":"BTCUSD","action":"BUY","quantity":"0.0015","price":"64250.5","time":"'
        + rfc3339(h.clock.now()) + '","strategy":{"order_id":"long-entry","market_position":"long"}}'
    )


async def test_tradingview_text_plain_and_json_bodies_each_reach_the_executor_once(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await clear_alerts(db_sessions)
    # The worker polls only hourly here: the alerts reach it because the endpoint wakes it.
    harness = await start_harness(db_sessions, worker_poll_s=3600)
    stop = asyncio.Event()
    worker = asyncio.create_task(harness.worker.run(stop))
    try:
        status, body = await harness.post("/webhook", _tradingview_text(harness), content_type="text/plain")
        assert (status, body["result"]) == (200, "accepted")
        json_alert = alert_body(harness.clock, secret=None, ticker="ETH-USD", action="sell", quantity="0.25",
                                price=None)
        status, body = await harness.post(f"/webhook/{SECRET}", json_alert)
        assert (status, body["result"]) == (200, "accepted")
        await wait_until(lambda: len(harness.executor.calls) >= 2)
    finally:
        stop.set()
        await worker
        await stop_harness(harness)
    assert await harness.drain() == 0  # nothing left to execute
    calls = {c.symbol: c for c in harness.executor.calls}
    assert len(harness.executor.calls) == 2 and set(calls) == {"BTC-USD", "ETH-USD"}
    btc, eth = calls["BTC-USD"], calls["ETH-USD"]
    assert (btc.action, btc.quantity, btc.price, btc.source) == ("buy", Decimal("0.0015"), Decimal("64250.5"),
                                                                  "tradingview")
    assert btc.dedup_key == "long-entry-2026-11-21T15:00:00Z"
    assert btc.strategy == {"order_id": "long-entry", "market_position": "long"}
    assert (eth.action, eth.notional, eth.quantity) == ("sell", None, Decimal("0.25"))
    rows = await harness.rows()
    assert [r.status for r in rows] == ["ordered", "ordered"]
    assert {r.order_id for r in rows} == {f"order-{c.id}" for c in harness.executor.calls}
    for row in rows:
        assert row.payload is not None and SECRET not in json.dumps(row.payload)
        assert row.body_sha256 is not None and len(row.body_sha256) == 64
        assert row.source_ip == "127.0.0.1" and row.processed_at is not None


async def test_the_rotated_secret_is_also_accepted(harness: Harness) -> None:
    status, body = await harness.post("/webhook", alert_body(harness.clock, secret=SECRET_OLD))
    assert (status, body["result"]) == (200, "accepted")


async def test_a_wrong_secret_gets_401_and_only_a_rejected_record(harness: Harness) -> None:
    wrong = SECRET[:-1] + ("A" if SECRET[-1] != "A" else "B")
    before = _alerts_metric("unauthorized")
    status, body = await harness.post("/webhook", alert_body(harness.clock, secret=wrong), content_type="text/plain")
    assert (status, body) == (401, {"result": "unauthorized", "reason": "bad_secret"})
    status, _ = await harness.post(f"/webhook/{wrong}", alert_body(harness.clock, secret=None))
    assert status == 401
    status, _ = await harness.post("/webhook", alert_body(harness.clock, secret=None))  # no secret at all
    assert status == 401
    # A right path secret does not excuse a wrong one in the body.
    status, _ = await harness.post(f"/webhook/{SECRET}", alert_body(harness.clock, secret=wrong))
    assert status == 401
    rows = await harness.rows()
    assert [r.status for r in rows] == ["unauthorized"] * 4
    for row in rows:
        assert row.dedup_key.startswith("rej:") and row.symbol is None and row.action is None
        assert row.payload is None and wrong not in (row.status_reason or "")
    assert {r.reason_code for r in rows} == {"bad_secret", "missing_secret"}
    assert {r.status_reason for r in rows} == {"bad secret in the body (secret)", "bad secret in the URL path",
                                               "no secret in the body or the URL path"}
    assert await harness.drain() == 0 and harness.executor.calls == []
    assert _alerts_metric("unauthorized") == before + 4


async def test_ten_resends_of_one_alert_execute_once(harness: Harness) -> None:
    raw = json.dumps(alert_body(harness.clock))
    replies = [await harness.post("/webhook", raw, content_type="text/plain") for _ in range(10)]
    assert replies[0] == (200, {"result": "accepted", "alert_id": replies[0][1]["alert_id"]})
    assert replies[1:] == [(200, {"result": "duplicate"})] * 9
    assert await harness.drain() == 1
    assert await harness.drain() == 0
    assert len(harness.executor.calls) == 1
    statuses = sorted(r.status for r in await harness.rows())
    assert statuses == ["duplicate"] * 9 + ["ordered"]


async def test_concurrent_resends_still_store_one_alert(harness: Harness) -> None:
    raw = json.dumps(alert_body(harness.clock, id="sighook:SOL-USD:2026-11-21T15:00:00Z", source="sighook",
                                ticker="SOL-USD", quantity=None, price=None, notional="20"))
    replies = await asyncio.gather(*(harness.post("/webhook", raw) for _ in range(10)))
    assert sorted(body["result"] for _, body in replies) == ["accepted"] + ["duplicate"] * 9
    assert await harness.drain() == 1
    assert harness.executor.calls[0].dedup_key == "sighook:SOL-USD:2026-11-21T15:00:00Z"
    assert harness.executor.calls[0].source == "sighook"


async def test_a_stale_or_future_time_places_nothing(harness: Harness) -> None:
    old = alert_body(harness.clock, time=rfc3339(later(harness.clock, -61)))
    status, body = await harness.post("/webhook", old)
    assert (status, body["result"]) == (422, "stale") and "old" in body["error"]
    future = alert_body(harness.clock, time=rfc3339(later(harness.clock, 30)))
    status, body = await harness.post("/webhook", future)
    assert (status, body["result"]) == (422, "stale") and "future" in body["error"]
    # Within the skew allowance (TradingView's clock may run slightly ahead): accepted.
    status, _ = await harness.post("/webhook", alert_body(harness.clock, time=rfc3339(later(harness.clock, 4))))
    assert status == 200
    assert await harness.drain() == 1
    assert [c.timenow for c in harness.executor.calls] == [later(harness.clock, 4)]
    assert sorted(r.status for r in await harness.rows()) == ["ordered", "stale", "stale"]


async def test_an_alert_that_waited_too_long_in_the_queue_is_not_executed(harness: Harness) -> None:
    status, _ = await harness.post("/webhook", alert_body(harness.clock))
    assert status == 200
    harness.clock.advance(301)  # e.g. the daemon was down
    assert await harness.drain() == 1
    assert harness.executor.calls == []
    [row] = await harness.rows()
    assert row.status == "stale" and "queue" in row.status_reason


async def test_an_oversized_body_gets_413(harness: Harness) -> None:
    big = alert_body(harness.clock, strategy={"comment": "x" * 5000})
    status, body = await harness.post("/webhook", big)
    assert (status, body["result"]) == (413, "invalid")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap applies while reading
        yield json.dumps(big).encode()

    async with harness.http.post(harness.base + "/webhook", data=chunks()) as resp:
        assert resp.status == 413
    assert await harness.drain() == 0 and harness.executor.calls == []
    assert [(r.reason_code, r.status_reason) for r in await harness.rows()] == [("body_too_large",
                                                                                 "body too large")] * 2


async def test_bad_input_gets_4xx_and_is_recorded_as_invalid(harness: Harness) -> None:
    status, body = await harness.post("/webhook", "secret=" + SECRET + ";SIGNAL=BUY", content_type="text/plain")
    assert (status, body) == (400, {"result": "invalid", "reason": "not_json", "error": "body is not a valid alert"})
    status, body = await harness.post(f"/webhook/{SECRET}", '{"ticker": "BTCUSD", "action": "buy", "price": {{close}}}')
    assert status == 400 and "placeholders" in body["error"] and body["reason"] == "not_json"
    status, body = await harness.post("/webhook", alert_body(harness.clock, ticker="DOGEUSD"))
    assert (status, body["result"], body["reason"]) == (422, "invalid", "unknown_product")
    status, body = await harness.post("/webhook", alert_body(harness.clock, action="hold"))
    assert (status, body["reason"]) == (422, "bad_value") and body["error"].startswith("action ")
    status, body = await harness.post("/webhook", alert_body(harness.clock, quantity="-1"))
    assert (status, body["reason"]) == (422, "bad_size") and body["error"].startswith("quantity ")
    status, body = await harness.post("/webhook", alert_body(harness.clock, quantity=None, notional="10",
                                                             id="notional-only"))
    assert status == 200  # notional alone is fine …
    status, body = await harness.post("/webhook", alert_body(harness.clock, notional="10", action="buy",
                                                             id="both"))
    assert (status, body["reason"]) == (422, "bad_size") and "not both" in body["error"]  # … not with a quantity
    rows = await harness.rows()
    assert sorted(r.status for r in rows) == ["accepted"] + ["invalid"] * 6
    assert all(SECRET not in json.dumps(r.payload) for r in rows if r.payload)
    assert all(SECRET not in (r.status_reason or "") for r in rows)


async def test_the_notional_cap_rejects_and_records(harness: Harness) -> None:
    cap = harness.settings.max_order_notional_usd
    status, body = await harness.post("/webhook", alert_body(harness.clock, quantity="1", price=str(cap + 1)))
    assert (status, body["result"], body["reason"]) == (422, "rejected_risk", "over_order_cap")
    assert "above MAX_ORDER_NOTIONAL_USD" in body["error"]
    status, body = await harness.post("/webhook", alert_body(harness.clock, quantity=None, price=None,
                                                             notional=str(cap * 2), action="buy", id="x2"))
    assert (status, body["result"]) == (422, "rejected_risk")
    # Exits are never capped: a sell over the cap is accepted (a limit must never trap a position).
    status, body = await harness.post("/webhook", alert_body(harness.clock, quantity="1", price=str(cap + 1),
                                                             action="sell"))
    assert status == 200, body
    assert await harness.drain() == 1  # the sell (the harness's executor records it)
    assert [r.status for r in await harness.rows()] == ["rejected_risk", "rejected_risk", "ordered"]


async def test_the_rate_limit_answers_429(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    await clear_alerts(db_sessions)
    h = await start_harness(db_sessions, alert_rate_limit_per_min=3)
    try:
        statuses = []
        for i in range(5):
            status, _ = await h.post("/webhook", alert_body(h.clock, id=f"rl-{i}"))
            statuses.append(status)
        assert statuses == [200, 200, 200, 429, 429]
        h.clock.advance(20)  # one token refilled (3 per minute)
        status, _ = await h.post("/webhook", alert_body(h.clock, id="rl-later"))
        assert status == 200
        assert sorted(r.status for r in await h.rows()) == ["accepted"] * 4 + ["rate_limited"] * 2
    finally:
        await stop_harness(h)


async def test_ip_allow_list_trusts_forwarded_for_only_from_configured_proxies(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await clear_alerts(db_sessions)
    tradingview = "52.89.214.238"
    h = await start_harness(db_sessions, webhook_allowed_ips=tradingview, webhook_trusted_proxies="127.0.0.1")
    try:
        status, _ = await h.post("/webhook", alert_body(h.clock, id="a"), headers={"X-Forwarded-For": "203.0.113.9"})
        assert status == 403
        status, _ = await h.post("/webhook", alert_body(h.clock, id="b"), headers={"X-Forwarded-For": tradingview})
        assert status == 200
        # A client cannot smuggle an allowed address in front of its own.
        spoof = {"X-Forwarded-For": f"{tradingview}, 203.0.113.9"}
        status, _ = await h.post("/webhook", alert_body(h.clock, id="c"), headers=spoof)
        assert status == 403
    finally:
        await stop_harness(h)
    h = await start_harness(db_sessions, webhook_allowed_ips=tradingview)  # no trusted proxy
    try:
        status, _ = await h.post("/webhook", alert_body(h.clock, id="d"), headers={"X-Forwarded-For": tradingview})
        assert status == 403
        status, _ = await h.post("/webhook", alert_body(h.clock, id="e"))  # sighook on the same host
        assert status == 200
    finally:
        await stop_harness(h)
    rows = await h.rows()
    assert {r.dedup_key for r in rows if r.status == "accepted"} == {"b", "e"}
    assert {r.source_ip for r in rows if r.status == "accepted"} == {tradingview, "127.0.0.1"}


async def test_503_only_when_the_alert_cannot_be_stored(db_url: str) -> None:
    dead = create_engine(db_url.rsplit("/", 1)[0] + "/bt_no_such_database", pool_size=1, connect_timeout_s=2)
    h = await start_harness(session_factory(dead))
    try:
        status, body = await h.post("/webhook", alert_body(h.clock))
        assert (status, body["result"]) == (503, "error")
        # Refusals do not need the database to answer.
        status, _ = await h.post("/webhook", alert_body(h.clock, secret="nope"))
        assert status == 401
    finally:
        await stop_harness(h)
        await dead.dispose()


async def test_the_worker_survives_executor_errors(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    await clear_alerts(db_sessions)
    h = await start_harness(db_sessions, executor=RecordingExecutor(fail_first=1))
    try:
        for i in range(2):
            status, _ = await h.post("/webhook", alert_body(h.clock, id=f"e-{i}"))
            assert status == 200
        stop = asyncio.Event()
        task = asyncio.create_task(h.worker.run(stop))
        await wait_until(lambda: len(h.executor.calls) >= 2)
        stop.set()
        await task  # the worker finishes (and records) the alert in hand before stopping
        rows = {r.dedup_key: r for r in await h.rows()}
        assert rows["e-0"].status == "failed" and "RuntimeError" in rows["e-0"].status_reason
        assert rows["e-1"].status == "ordered" and rows["e-1"].order_id == f"order-{rows['e-1'].id}"
        assert rows["e-0"].attempts == 1
    finally:
        await stop_harness(h)


async def test_concurrent_workers_never_take_the_same_alert(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    await clear_alerts(db_sessions)
    executor = RecordingExecutor(delay_s=0.01)
    h = await start_harness(db_sessions, executor=executor)
    try:
        for i in range(24):
            status, _ = await h.post("/webhook", alert_body(h.clock, id=f"w-{i}"))
            assert status == 200
        from webhook.alerts.worker import AlertWorker

        workers = [AlertWorker(db_sessions, executor, h.clock) for _ in range(3)]

        async def drain(w: AlertWorker) -> None:
            while await w.process_one():
                pass

        await asyncio.gather(*(drain(w) for w in workers))
        ids = [c.id for c in executor.calls]
        assert len(ids) == 24 and len(set(ids)) == 24
        assert {r.status for r in await h.rows()} == {AlertStatus.ORDERED.value}
    finally:
        await stop_harness(h)


async def test_a_client_that_disconnects_mid_body_leaves_nothing(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # A client that gives up mid-body (TradingView cancels after 3 s) leaves nothing stored.
    for length in (b"500", None):
        _, writer = await asyncio.open_connection("127.0.0.1", harness.server.port)
        head = b"Content-Length: " + length if length else b"Transfer-Encoding: chunked"
        writer.write(b"POST /webhook HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n\r\n")
        writer.write(b'{"secret": "' if length else b'10\r\n{"secret": "abcd')
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    status, _ = await harness.post("/webhook", alert_body(harness.clock))
    assert status == 200
    assert [r.status for r in await harness.rows()] == ["accepted"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_empty_body_is_refused(harness: Harness) -> None:
    assert await harness.post("/webhook", b"") == (400, {"result": "invalid", "reason": "not_json",
                                                         "error": "body is not a valid alert"})
    assert (await harness.post(f"/webhook/{SECRET}", b""))[0] == 400
    async with harness.http.post(harness.base + "/webhook") as resp:  # no body, no Content-Type
        assert resp.status == 400


async def test_json_content_type_is_not_required(harness: Harness) -> None:
    for i, ctype in enumerate(["text/plain; charset=utf-8", "application/x-www-form-urlencoded", ""]):
        status, _ = await harness.post("/webhook", alert_body(harness.clock, id=f"ct-{i}"), content_type=ctype)
        assert status == 200
    async with aiohttp.ClientSession() as s, s.post(harness.base + "/webhook",
                                                    data=json.dumps(alert_body(harness.clock, id="ct-x"))) as r:
        assert r.status == 200
