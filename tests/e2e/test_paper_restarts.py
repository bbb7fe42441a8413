"""`both` with its in-process simulator survives SIGINT, SIGKILL and SIGKILL mid-placement; a wiped
simulator under a kept database is refused until `paper reset` (issue #17).

After every restart: each simulator fill is in `fills` exactly once, positions equal the
simulator's balances, `fifo check` is clean, nothing was logged at error level, and the resting
order placed in the first run is still open on the exchange and in passive_orders.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from core.enums import OrderStatus, Side
from exchange.models import OrderKind, OrderRequest
from simulator.store import STATE_FILE_NAME
from tests.e2e.harness import buy_alert, eventually
from tests.e2e.paper_harness import (
    PRODUCTS,
    PaperExchange,
    db_trade_ids,
    disagreement,
    error_lines,
    fetch,
    interrupt,
    paper_env,
    post_alert,
    run_cli,
    run_refused,
    wait_for_agreement,
)
from tests.e2e.process_harness import DaemonProcess

pytestmark = pytest.mark.slow


@pytest.fixture
async def daemons() -> AsyncIterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for d in started:  # never leave a daemon running after a failed test
        if d.proc is not None and d.proc.returncode is None:
            await d.kill()


async def _start(env: dict[str, str], daemons: list[DaemonProcess]) -> tuple[DaemonProcess, PaperExchange]:
    daemon = DaemonProcess(env, mode="both")
    daemons.append(daemon)
    await daemon.start(ready_timeout=180)
    return daemon, await PaperExchange.of(daemon)


_alerts = iter(range(1, 10_000))


async def _trade(daemon: DaemonProcess, db_url: str, symbol: str, action: str = "buy") -> None:
    """One alert → one market order, waited for until its fills are recorded."""
    before = len(await db_trade_ids(db_url))
    body = buy_alert(symbol, notional=str(150 + next(_alerts)), action=action)
    if action != "buy":  # a sell names no USD amount (refused as bad_size): it sells the whole position
        del body["notional"]
        body["action"] = "close"
    assert await post_alert(daemon.alert_url, body) == 200
    await eventually(lambda: _more_fills(db_url, before), timeout=60, what=f"{action} {symbol} recorded")


async def _more_fills(db_url: str, before: int) -> bool:
    return len(await db_trade_ids(db_url)) > before


async def _assert_consistent(daemon: DaemonProcess, exchange: PaperExchange, db_url: str, env: dict[str, str],
                             resting_id: str) -> None:
    await wait_for_agreement(exchange, db_url, daemon)
    ours = await db_trade_ids(db_url)
    assert len(ours) == len(set(ours))  # exactly once
    resting = await exchange.adapter.get_order(resting_id)
    assert resting.status is OrderStatus.OPEN
    await eventually(lambda: fetch(db_url, "SELECT 1 FROM passive_orders WHERE order_id = $1", resting_id),
                     timeout=60, what="resting order in passive_orders")
    check = run_cli(env, "fifo", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert error_lines(daemon.lines) == [], "".join(error_lines(daemon.lines))


async def test_three_runs_stopped_three_ways_then_a_wiped_simulator_is_refused(
        tmp_path: Path, db_url: str, daemons: list[DaemonProcess]) -> None:
    env = paper_env(db_url, tmp_path / "sim")

    # Run 1: trade, leave a resting order on the book, Ctrl-C.
    daemon, exchange = await _start(env, daemons)
    for symbol in PRODUCTS:
        await _trade(daemon, db_url, symbol)
    quote = (await exchange.adapter.get_best_bid_ask(["BTC-USD"]))[0]
    placed = await exchange.adapter.create_order(OrderRequest(
        "test-resting-1", "BTC-USD", Side.BUY, OrderKind.LIMIT_GTC, base_size=D("0.001"),
        limit_price=(quote.bid / 2).quantize(D("0.01"))))
    assert placed.success and placed.order_id
    resting_id = placed.order_id
    await _assert_consistent(daemon, exchange, db_url, env, resting_id)
    assert await interrupt(daemon) == 0

    # Run 2: the same account comes back; trade; SIGKILL.
    daemon, exchange = await _start(env, daemons)
    assert daemon.find("sim_state_restored"), daemon.tail()
    await _assert_consistent(daemon, exchange, db_url, env, resting_id)
    await _trade(daemon, db_url, "BTC-USD")
    await _trade(daemon, db_url, "ETH-USD", action="sell")
    await _assert_consistent(daemon, exchange, db_url, env, resting_id)
    await daemon.kill()

    # Runs 3 and 4: SIGKILL while an order placement is in flight — first with the simulator holding
    # back its answer to an order it has taken, then with one it has not taken yet.
    in_flight: list[str] = []  # the working orders whose child was in flight at the kill
    for processed, notional in ((True, "333"), (False, "344")):
        daemon, exchange = await _start(env, daemons)
        await _assert_consistent(daemon, exchange, db_url, env, resting_id)
        await _trade(daemon, db_url, "ETH-USD")
        # The previous run's in-flight BTC entry is this run's to finish (its desk settled the child and
        # works it): a second BTC buy is refused while it works, so wait until it is done.
        await eventually(lambda: _no_working_order(db_url), timeout=120, what="the recovered entry finished")
        await exchange.admin("faults", {"kind": "slow", "path": "/orders", "method": "POST", "count": 1,
                                        "params": {"delay_s": 30, "process": processed}})
        fills_before = len(await db_trade_ids(db_url))
        assert await post_alert(daemon.alert_url, buy_alert("BTC-USD", notional=notional)) == 200
        # The row is written before the call; when the simulator took the order, the user channel may
        # report (and the fill path record) it while the REST answer is still held back.
        await eventually(lambda b=fills_before: _in_flight(db_url, b), timeout=30, what="placement in flight")
        assert not daemon.find("order_placed", symbol="BTC-USD", quote_size=notional)
        [latest] = await fetch(db_url, "SELECT id FROM working_orders WHERE symbol = 'BTC-USD' "
                               "ORDER BY started_at DESC LIMIT 1")
        in_flight.append(latest["id"])
        await daemon.kill()

    # Run 5: the in-flight orders are settled (same client_order_id → the exchange's existing order, or
    # sent now) and worked by their working orders to the end (filled, or cancelled at their TTL — no
    # order is left resting unmanaged); their fills recorded once; nothing is left NEW, and nothing
    # marked rejected that the exchange has.
    daemon, exchange = await _start(env, daemons)
    await _assert_consistent(daemon, exchange, db_url, env, resting_id)
    await eventually(lambda: _no_working_order(db_url), timeout=150, what="the in-flight entries worked to the end")
    await _assert_children_settled(exchange, db_url, in_flight)
    await eventually(lambda: _agrees(exchange, db_url), timeout=60, what="database and exchange agree")
    await _assert_consistent(daemon, exchange, db_url, env, resting_id)
    identity = await fetch(db_url, "SELECT portfolio_uuid FROM account_identity")
    assert identity and identity[0]["portfolio_uuid"] == (await exchange.adapter.get_key_permissions()).portfolio_uuid
    assert await interrupt(daemon) == 0

    # The simulator's state is removed under the kept database: refused, with one clear line.
    counts_before = await fetch(db_url, "SELECT (SELECT COUNT(*) FROM fills) f, (SELECT COUNT(*) FROM trade_records) t")
    for path in (tmp_path / "sim").glob(f"{STATE_FILE_NAME}*"):
        path.unlink()
    rc, err = await run_refused(env)
    assert rc == 5, err
    refusal = [line for line in err.splitlines() if line.startswith("bottrader: ")]
    assert len(refusal) == 1 and "refusing to start" in refusal[0] and "portfolio_uuid" in refusal[0], err
    assert "python main.py paper reset" in refusal[0]
    assert await fetch(db_url, "SELECT (SELECT COUNT(*) FROM fills) f, (SELECT COUNT(*) FROM trade_records) t"
                       ) == counts_before
    assert (await fetch(db_url, "SELECT portfolio_uuid FROM account_identity")) == identity

    # `paper reset` wipes both together and says what it removed; the next start is clean.
    reset = run_cli(env, "paper", "reset", "--yes")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert "Removed the simulator's books" in reset.stdout and "fills (" in reset.stdout, reset.stdout
    for table in ("fills", "trade_records", "account_identity", "passive_orders"):
        assert (await fetch(db_url, f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"] == 0, table
    daemon, exchange = await _start(env, daemons)
    assert daemon.find("sim_state_created"), daemon.tail()
    await _trade(daemon, db_url, "BTC-USD")
    await eventually(lambda: _agrees(exchange, db_url), timeout=60, what="clean start agrees")
    new_identity = await fetch(db_url, "SELECT portfolio_uuid FROM account_identity")
    assert new_identity and new_identity != identity
    assert error_lines(daemon.lines) == [], "".join(error_lines(daemon.lines))
    assert await interrupt(daemon) == 0


async def _in_flight(db_url: str, fills_before: int) -> bool:
    new = await fetch(db_url, "SELECT 1 FROM trade_records WHERE status = 'NEW'")
    return bool(new) or len(await db_trade_ids(db_url)) > fills_before


async def _no_working_order(db_url: str) -> bool:
    return not await fetch(db_url, "SELECT 1 FROM working_orders WHERE state IN ('working', 'escalated', 'unsure')")


async def _assert_children_settled(exchange: PaperExchange, db_url: str, working_order_ids: list[str]) -> None:
    """Every child of these working orders is settled: ours agrees with the exchange's order of that
    client_order_id (which has ended), or it is rejected and the exchange has no such order."""
    theirs: dict[str, Any] = {}
    cursor: str | None = None
    while True:
        page = await exchange.adapter.list_orders(product_id="BTC-USD", cursor=cursor)
        theirs.update((o.client_order_id, o) for o in page.items)
        if not page.has_next or not page.cursor:
            break
        cursor = page.cursor
    for wo_id in working_order_ids:
        children = await fetch(db_url, "SELECT client_order_id, order_id, status FROM trade_records "
                               "WHERE working_order_id = $1", wo_id)
        assert children, wo_id
        for child in children:
            order = theirs.get(child["client_order_id"])
            assert child["status"] != OrderStatus.NEW.value, child
            if child["status"] == OrderStatus.REJECTED.value:
                assert order is None, (child, order)
            else:
                assert order is not None and order.order_id == child["order_id"] and order.status.is_terminal, child


async def _agrees(exchange: PaperExchange, db_url: str) -> bool:
    return await disagreement(exchange, db_url) is None
