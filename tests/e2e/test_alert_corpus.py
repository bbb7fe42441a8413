"""The alert corpus (tests/e2e/alert_corpus.py) through the real daemon's endpoint to the simulator:
each message gets its expected reply and stored reason, and the simulator receives exactly the
expected orders (product, side and, where pinned, the exact size). Also: TradingView's resends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from shared_data.models import Alert
from simulator.app import RunningSimulator
from simulator.engine.orders import SimOrder
from tests.e2e.alert_corpus import PRICES, Case, cases
from tests.e2e.harness import SECRET, Daemon, e2e_settings, eventually, running_daemon, start_test_simulator
from webhook.alerts.limits import RecordBudget
from webhook.http.app import DEPS_KEY

PRODUCTS = list(PRICES)


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), PRODUCTS,
                                         initial_balances={"USD": Decimal("100000"), "LTC": Decimal("60")})
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="module")
async def daemon(db_url: str, sim: RunningSimulator) -> AsyncIterator[Daemon]:
    for product, price in PRICES.items():
        sim.set_price(product, price)
    settings = e2e_settings(max_order_notional_usd="1000", max_position_pct="5", entry_quote_size_usd="100",
                            entry_quote_size_usd_sighook="40", alert_max_price_deviation_pct="2",
                            entry_data_max_age_s=3600, max_consecutive_losses=100)
    async with running_daemon(db_url, sim, settings) as d:
        # Keep every refusal's row (the default budget drops rows past 20 a minute from one address).
        d.parts["runner"].app[DEPS_KEY].record_budget = RecordBudget(per_source=10_000, total=10_000)
        for product, price in PRICES.items():  # a ticker for each product, now that the feed listens
            sim.set_price(product, price)
            await eventually(lambda p=product: d.parts["cache"].get(p) is not None, what=f"{product} quote")
        yield d


async def post(d: Daemon, case: Case, body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, str) else json.dumps(body)
    url = d.parts["alert_url"] + (f"/{SECRET}" if case.path_secret else "")
    async with aiohttp.ClientSession() as http, http.post(
        url, data=data.encode(), headers={"Content-Type": case.content_type},
        timeout=aiohttp.ClientTimeout(total=10),
    ) as resp:
        return resp.status, json.loads(await resp.text())


async def alert_row(d: Daemon, alert_id: int) -> Alert:
    async with d.sessions() as session:
        return (await session.execute(select(Alert).where(Alert.id == alert_id))).scalar_one()


async def latest_refusal(d: Daemon) -> Alert:
    async with d.sessions() as session:
        return (await session.execute(select(Alert).order_by(Alert.id.desc()).limit(1))).scalar_one()


def sim_orders(sim: RunningSimulator) -> list[SimOrder]:
    return sorted(sim.engine.orders.values(), key=lambda o: o.created_time)


async def test_every_corpus_message_gets_its_expected_outcome(daemon: Daemon, sim: RunningSimulator) -> None:
    corpus = cases()
    assert len(corpus) >= 40
    failures: list[str] = []
    expected_total = 0
    for case in corpus:
        before = {o.order_id for o in sim_orders(sim)}
        body = case.body() if callable(case.body) else case.body
        status, reply = await post(daemon, case, body)
        got = (status, reply.get("result"), reply.get("reason"))
        want = (case.http, case.result, case.reason)
        if got != want:
            failures.append(f"{case.name}: reply {got} {reply.get('error')!r}, expected {want}")
            continue
        if case.result == "accepted":
            alert_id = reply["alert_id"]

            async def settled(i: int = alert_id) -> Alert | None:
                row = await alert_row(daemon, i)
                return row if row.status != "accepted" else None

            row = await eventually(settled, what=f"{case.name} processed")
            if (row.status, row.reason_code) != (case.final, case.final_reason):
                failures.append(f"{case.name}: stored {(row.status, row.reason_code, row.status_reason)}, "
                                f"expected {(case.final, case.final_reason)}")
        elif case.reason is not None and status != 200:
            row = await latest_refusal(daemon)
            if row.reason_code != case.reason or not row.status_reason:
                failures.append(f"{case.name}: stored reason {row.reason_code!r}, expected {case.reason!r}")
            if SECRET in json.dumps(row.payload) or SECRET in (row.status_reason or ""):
                failures.append(f"{case.name}: the secret was stored")
        new = [o for o in sim_orders(sim) if o.order_id not in before]
        expected_total += case.orders
        if len(new) != case.orders:
            failures.append(f"{case.name}: {len(new)} orders on the simulator, expected {case.orders}")
            continue
        for order in new:
            spec = order.spec
            if (order.product_id, order.side) != (case.product, case.side):
                failures.append(f"{case.name}: ordered {order.side} {order.product_id}")
            if case.quote_size is not None:
                # A USD amount is ordered in base units at the product's increment (the working-order desk,
                # issue #19: no dust), sized so that what leaves the account, fees included, is at most it.
                fills = [f for f in sim.engine.fills if f.order_id == order.order_id]
                spent = sum((f.price * f.size + f.commission for f in fills), Decimal(0))
                if spec.base_size is None or spec.quote_size is not None:
                    failures.append(f"{case.name}: sized {spec.base_size} base / {spec.quote_size} quote, "
                                    f"expected base units for ${case.quote_size}")
                elif not case.quote_size * Decimal("0.97") <= spent <= case.quote_size:
                    failures.append(f"{case.name}: spent {spent} for ${case.quote_size}")
            if case.base_size is not None and spec.base_size != case.base_size:
                failures.append(f"{case.name}: base size {spec.base_size}, expected {case.base_size}")
            if order.side == "BUY":  # the next exits need the fill in the ledger
                await eventually(lambda p=order.product_id: daemon.position_size(p) > 0, what=f"{case.name} fill")
    await asyncio.sleep(1.0)  # nothing arrives late
    assert not failures, "\n".join(failures)
    assert len(sim.engine.orders) == expected_total


async def test_four_identical_tradingview_deliveries_place_one_order(daemon: Daemon, sim: RunningSimulator) -> None:
    fire = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps({"secret": SECRET, "id": f"Long-{fire}",
                       "ticker": "SOLUSD", "action": "buy", "notional": "35", "timenow": fire})
    text = "buy SOLUSD $36"  # and a plain-text message without a fire time, resent the same way
    before = len(sim.engine.orders)
    for message, path, ctype in ((body, "", "application/json"), (text, f"/{SECRET}", "text/plain")):
        replies = []
        for _ in range(4):  # TradingView: the first delivery and up to 3 resends, identical bodies
            async with aiohttp.ClientSession() as http, http.post(
                    daemon.parts["alert_url"] + path, data=message.encode(), headers={"Content-Type": ctype}) as resp:
                replies.append((resp.status, (await resp.json())["result"]))
        assert replies == [(200, "accepted")] + [(200, "duplicate")] * 3, replies
    await eventually(lambda: len(sim.engine.orders) == before + 2, what="two orders")
    await asyncio.sleep(1.0)
    assert len(sim.engine.orders) == before + 2
    last_two = list(sim.engine.orders.values())[-2:]
    assert sorted(o.product_id for o in last_two) == ["SOL-USD", "SOL-USD"]
    spent = [sum((f.price * f.size + f.commission for f in sim.engine.fills if f.order_id == o.order_id), Decimal(0))
             for o in last_two]  # in the order sent: the JSON alert's $35, then the text's $36
    for amount, cost in zip((Decimal("35"), Decimal("36")), spent, strict=True):
        assert amount * Decimal("0.97") <= cost <= amount, spent
