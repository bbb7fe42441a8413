"""The whole webhook daemon, in-process, against a simulator the test drives (scripted prices)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from core.settings import Settings, load_settings
from exchange.coinbase.clients import CoinbaseConfig, build_rest_adapter
from shared_data.db import create_engine
from shared_data.models import TradeRecord
from shared_data.shared_state import SharedStateListener
from simulator.app import RunningSimulator, SimulatorConfig, start_simulator
from webhook.daemon import assemble
from webhook.exchange_runtime import ExchangeRuntime

SECRET = "e2e-secret-" + "x" * 40


async def start_test_simulator(state_dir: Path, products: list[str], price: Decimal = Decimal("100"),
                               **overrides: Any) -> RunningSimulator:
    base: dict[str, Any] = dict(
        state_dir=state_dir, products=products, auto_tick=False,
        initial_prices=dict.fromkeys(products, price), initial_balances={"USD": Decimal("100000")})
    base.update(overrides)
    return await start_simulator(SimulatorConfig(**base))


def module_simulator(*products: str) -> Any:
    """A module-scoped fixture: one simulator quoting `products` at 100 for every test of the module.
    Bind it to the name the tests ask for: `sim = module_simulator(SYMBOL)`."""
    @pytest.fixture(scope="module")
    async def simulator(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
        running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), list(products))
        try:
            yield running
        finally:
            await running.stop()
    return simulator


def e2e_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = dict(
        webhook_port=0, webhook_host="127.0.0.1", webhook_secrets=SECRET, sentinel_sweep_interval_s=0.5,
        quote_max_age_s=60, reconcile_interval_s=600, fills_lag_retry_s=5, log_format="json",
        alert_rate_limit_per_min=1000, max_order_notional_usd="100000", max_position_pct="100",
        # These tests drive the taker path (market entries, marketable exits); the maker-first path
        # (issue #19) has its own tests: tests/integration/working_orders, tests/e2e/test_maker_first.py.
        entry_order_type="market", exit_order_style="marketable", exit_pnl_basis="price",
    )
    base.update(overrides)
    return load_settings(**base)


@dataclass
class Daemon:
    parts: dict[str, Any]
    settings: Settings
    sim: RunningSimulator

    @property
    def sessions(self) -> Any:
        return self.parts["sessions"]

    async def post_alert(self, body: dict[str, Any] | str, *,
                         content_type: str = "application/json") -> tuple[int, Any]:
        data = body if isinstance(body, str) else json.dumps(body)
        async with aiohttp.ClientSession() as http, http.post(
            self.parts["alert_url"], data=data, headers={"Content-Type": content_type},
            timeout=aiohttp.ClientTimeout(total=10),
        ) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    def position_size(self, symbol: str) -> Decimal:
        """The size the sentinel guards. Not the ledger's: that shows a fill as soon as it is staged,
        before its transaction commits; the sentinel's list is rebuilt only after the commit, so a test
        that waited on the ledger could find the position missing from the list a moment later."""
        for p in self.parts["positions"].open_positions():
            if p.symbol == symbol:
                return Decimal(p.size)
        return Decimal(0)

    def entry_price(self, symbol: str) -> Decimal:
        for p in self.parts["positions"].open_positions():
            if p.symbol == symbol:
                return p.avg_entry_price
        raise AssertionError(f"no open {symbol} position")

    async def sells(self, symbol: str) -> list[TradeRecord]:
        async with self.sessions() as session:
            rows = await session.execute(select(TradeRecord).where(TradeRecord.symbol == symbol,
                                                                   TradeRecord.side == "SELL"))
            return list(rows.scalars())


def buy_alert(symbol: str, notional: str = "200", **extra: Any) -> dict[str, Any]:
    body = {"secret": SECRET, "ticker": symbol.replace("-", ""), "exchange": "COINBASE", "action": "buy",
            "notional": notional, "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    body.update(extra)
    return body


async def eventually[T](probe: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.1,
                        what: str = "condition") -> Any:
    """Poll `probe` (sync or async) until it returns something truthy; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = probe()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last={last!r}")


@asynccontextmanager
async def running_daemon(db_url: str, sim: RunningSimulator, settings: Settings) -> AsyncIterator[Daemon]:
    key = sim.create_api_key()
    config = CoinbaseConfig.from_settings(
        settings, rest_host=sim.rest_host, ws_market_url=sim.ws_market_url, ws_user_url=sim.ws_user_url,
        ca_file=sim.ca_file, api_key=key.name, api_secret=key.private_pem)
    exchange = ExchangeRuntime(config, build_rest_adapter(config))
    engine = create_engine(db_url, pool_size=5)
    listener = SharedStateListener(db_url, matrix_max_age_s=settings.matrix_max_age_s)
    stop = asyncio.Event()
    parts = await assemble(settings, db_url, engine, exchange, listener, stop)
    task = asyncio.create_task(parts["supervisor"].run())
    try:
        await eventually(lambda: parts["market_feed"].connected and parts["user_feed"].connected,
                         what="feeds connected")
        yield Daemon(parts, settings, sim)
    finally:
        stop.set()
        await parts["runner"].cleanup()
        with suppress(TimeoutError):
            await asyncio.wait_for(task, timeout=20)
        await listener.stop()
        await engine.dispose()


def sell_matrix_payload(symbol: str, close: Decimal, atr: Decimal, now: datetime) -> dict[str, Any]:
    """A buy_sell_matrix as sighook publishes it, with a SELL decision for `symbol`."""
    from sighook.matrix import BuySellMatrix, MatrixRow, to_payload
    from sighook.rules import Decision

    candle = now.replace(second=0, microsecond=0) - timedelta(minutes=1)
    row = MatrixRow(product_id=symbol, hodl=False, candle_time=candle, as_of=candle + timedelta(minutes=1),
                    candles=300, close=close, atr=atr, atr_pct=atr / close * 100, votes={"rsi": -1},
                    score=Decimal("-1"), decision=Decision.SELL)
    matrix = BuySellMatrix(computed_at=now, granularity="ONE_MINUTE", buy_threshold=Decimal("0.6"),
                           sell_threshold=Decimal("-0.6"), weights={"rsi": Decimal(1)}, rows={symbol: row}, skipped={})
    return to_payload(matrix)
