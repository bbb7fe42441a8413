"""Start a simulator inside the caller's event loop: HTTPS REST + WebSocket on loopback.

    sim = await start_simulator(SimulatorConfig(state_dir=tmp, auto_tick=False))
    key = sim.create_api_key()
    client = RESTClient(api_key=key.name, api_secret=key.private_pem, base_url=sim.rest_host, timeout=10)
    client.session.trust_env = False
    client.session.verify = str(sim.ca_file)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from core.logging import get_logger
from simulator.clock import SimClock
from simulator.config import SimulatorConfig
from simulator.context import SimContext
from simulator.engine.matching import MatchingEngine
from simulator.engine.price_process import read_ohlcv_csv
from simulator.engine.products import default_spec
from simulator.faults import FaultInjector
from simulator.http.auth import JwtVerifier
from simulator.http.render import fill_json
from simulator.http.server import build_rest_app, build_ws_app
from simulator.keys import KEYS_FILE_NAME, KeyPermissions, KeyStore, TestKey, generate_key_pair
from simulator.store import SimStateStore
from simulator.tls import TlsFiles, ensure_certificates
from simulator.ws.server import WsEndpoint

__all__ = ["RunningSimulator", "SimulatorConfig", "TestKey", "start_simulator"]
log = get_logger(__name__)
HOUSEKEEPING_INTERVAL_S = 0.25
FAULTS_FILE_NAME = "faults.json"


class RunningSimulator:
    """A running simulator: its addresses, the engine and fault injector, and test controls."""

    def __init__(self, ctx: SimContext, tls: TlsFiles, rest: web.AppRunner, ws: web.AppRunner) -> None:
        self.ctx = ctx
        self.config = ctx.config
        host = ctx.config.host
        host_part = f"[{host}]" if ":" in host else host
        rest_port, ws_port = _bound_port(rest), _bound_port(ws)
        self.rest_host = f"{host_part}:{rest_port}"  # what the SDK takes as base_url (no scheme)
        self.ws_market_url = f"ws://{host_part}:{ws_port}/ws"
        self.ws_user_url = f"ws://{host_part}:{ws_port}/ws/user"
        self.wss_market_url = f"wss://{host_part}:{rest_port}/ws"
        self.wss_user_url = f"wss://{host_part}:{rest_port}/ws/user"
        self.admin_url = f"https://{host_part}:{rest_port}/admin"
        self.ca_file: Path = tls.ca_file
        self.tls = tls
        self.engine: MatchingEngine = ctx.engine
        self.faults: FaultInjector = ctx.faults
        self.clock: SimClock = ctx.clock
        self._runners = (rest, ws)
        self._tasks: list[asyncio.Task[None]] = []
        self._step_lock = asyncio.Lock()
        ctx.stepper = self.step

    # ---- keys ---------------------------------------------------------------------------------
    def create_api_key(self, kind: str = "ec", permissions: KeyPermissions | None = None) -> TestKey:
        """Generate a key pair ("ec" or "ed25519") and register its public half."""
        key = generate_key_pair(kind)
        self.register_key(key.name, key.public_pem, permissions)
        return key

    def register_key(self, key_name: str, public_pem: str, permissions: KeyPermissions | None = None) -> None:
        self.ctx.keys.register(key_name, public_pem, permissions, persist=self.config.persist_keys)

    # ---- market control -------------------------------------------------------------------------
    def set_price(self, product_id: str, price: Decimal, volume: Decimal = Decimal(0)) -> None:
        """Move the market now: book re-centred, resting orders that trade through fill, ticker emitted.
        `volume` > 0 prints a public trade there, consuming resting queues at that price."""
        self.engine.set_price(product_id, price, self.ctx.now(), volume)
        self.ctx.pump()

    async def step(self, n: int = 1) -> None:
        """Advance the price process n ticks; the simulated clock moves one tick interval per tick."""
        async with self._step_lock:
            for i in range(n):
                self.clock.advance(self.config.tick_interval_s)
                self.engine.tick(self.ctx.now())
                self.ctx.pump()
                if i % 50 == 49:
                    await asyncio.sleep(0)  # let sockets breathe during long runs

    def add_fill_correction(self, trade_id: str, trade_type: str = "CORRECTION") -> dict[str, Any]:
        """Append a REVERSAL/CORRECTION entry for an existing fill (R13); returns it in REST shape."""
        fill = self.engine.add_fill_correction(trade_id, trade_type, self.ctx.now())
        self.ctx.pump()
        return fill_json(fill, self.engine.config.user_id)

    def set_product_flags(self, product_id: str, **flags: Any) -> None:
        """Trading flags / status at run time (R16), e.g. trading_disabled=True, status="offline"."""
        self.engine.markets[product_id].state.flags.update(**flags)

    # ---- inspection -----------------------------------------------------------------------------
    def all_fills(self) -> list[dict[str, Any]]:
        """The simulator's own fill ledger in REST fill shape, oldest first (ignores fills lag)."""
        return [fill_json(f, self.engine.config.user_id) for f in self.engine.fills]

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """currency → (available, hold)."""
        return self.engine.balances()

    # ---- lifecycle ------------------------------------------------------------------------------
    def _start_tasks(self) -> None:
        loop = asyncio.get_running_loop()
        hub = self.ctx.hub
        self._tasks = [loop.create_task(hub.heartbeat_loop()), loop.create_task(hub.ticker_batch_loop()),
                       loop.create_task(self._housekeeping_loop())]
        if self.config.auto_tick:
            self._tasks.append(loop.create_task(self._tick_loop()))

    async def _tick_loop(self) -> None:
        interval = self.clock.real_seconds(self.config.tick_interval_s)
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            try:
                async with self._step_lock:
                    self.engine.tick(self.ctx.now())
                    self.ctx.pump()
            except Exception:  # one bad tick must not stop the market
                log.exception("sim_tick_failed")
            if loop.time() - next_at > 5 * interval:
                next_at = loop.time()  # fell far behind (suspended?): do not burst

    async def _housekeeping_loop(self) -> None:
        """GTD expiry, delayed cancels and held-PENDING orders progress even when prices do not move."""
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)
            try:
                self.engine.housekeeping(self.ctx.now())
                self.ctx.pump()
            except Exception:
                log.exception("sim_housekeeping_failed")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.ctx.hub.close_all(1001, "going away")
        for runner in reversed(self._runners):
            await runner.cleanup()
        if self.ctx.store is not None:
            self.ctx.store.close()
        log.info("simulator_stopped", rest_host=self.rest_host)


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("server did not bind")


def build_context(config: SimulatorConfig) -> tuple[SimContext, TlsFiles]:
    tls = ensure_certificates(config.state_dir, config.host, extra_hosts=config.tls_hostnames)
    store = SimStateStore(config.state_dir, config.state_synchronous) if config.persist else None
    engine_config = config.engine_config()
    clock = SimClock(config.clock_speed)
    resumed_at = store.clock_at() if store is not None else None
    if resumed_at is not None and resumed_at > clock.now():  # simulated time never runs backwards
        clock.advance((resumed_at - clock.now()).total_seconds())
    if store is not None:
        # The account's identity is drawn once and kept with its books; a wiped state is a new account.
        account_id = store.meta("account_id") or str(uuid.uuid4())
        user_id = store.meta("user_id") or str(uuid.uuid4())
        engine_config = dataclasses.replace(engine_config, portfolio_id=account_id, user_id=user_id)
    replay = read_ohlcv_csv(config.replay_csv) if config.replay_csv else None
    specs = [default_spec(p, config.initial_prices.get(p)) for p in dict.fromkeys(config.products)]
    engine = MatchingEngine(engine_config, specs, clock.now(), dict(config.initial_balances), replay)
    if store is not None:
        if store.is_new:
            store.initialise(engine, clock.now())
            log.info("sim_state_created", path=str(store.path), account_id=engine_config.portfolio_id)
        else:
            store.restore(engine)
            log.info("sim_state_restored", path=str(store.path), account_id=engine_config.portfolio_id,
                     open_orders=len(engine.open_orders()), fills=len(engine.fills))
    keys = KeyStore(config.state_dir / KEYS_FILE_NAME)
    verifier = JwtVerifier(keys, leeway_s=config.jwt_leeway_s, accept_ed25519=config.accept_ed25519,
                           accept_legacy_iss=config.accept_legacy_iss, max_lifetime_s=config.max_jwt_lifetime_s,
                           reject_reused_nonce=config.reject_reused_nonce)
    faults = FaultInjector(config.seed)
    faults_file = config.state_dir / FAULTS_FILE_NAME
    if faults_file.exists():  # faults switched on from the start (same JSON as POST /admin/faults)
        faults.load(json.loads(faults_file.read_text() or "[]"))
    return SimContext(config, engine, clock, faults, keys, verifier, store), tls


async def start_simulator(config: SimulatorConfig) -> RunningSimulator:
    """Bind the REST (HTTPS) and WebSocket ports and start the market; runs in the caller's loop."""
    ctx, tls = build_context(config)
    endpoint = WsEndpoint(ctx)
    rest = web.AppRunner(build_rest_app(ctx, endpoint), access_log=None, shutdown_timeout=1.0)
    ws = web.AppRunner(build_ws_app(ctx, endpoint), access_log=None, shutdown_timeout=1.0)
    await rest.setup()
    await ws.setup()
    try:
        await web.TCPSite(rest, config.host, config.rest_port, ssl_context=tls.server_context()).start()
        await web.TCPSite(ws, config.host, config.ws_port).start()
    except OSError:
        await rest.cleanup()
        await ws.cleanup()
        if ctx.store is not None:
            ctx.store.close()
        raise
    sim = RunningSimulator(ctx, tls, rest, ws)
    sim._start_tasks()
    log.info("simulator_started", rest_host=sim.rest_host, ws_market_url=sim.ws_market_url,
             ws_user_url=sim.ws_user_url, ca_file=str(sim.ca_file), products=list(ctx.engine.markets),
             auto_tick=config.auto_tick, clock_speed=config.clock_speed, seed=config.seed)
    return sim
