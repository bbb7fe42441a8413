"""What the REST routes, the WebSocket hub and the admin API share: one simulator's live state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from simulator.clock import SimClock
from simulator.config import SimulatorConfig
from simulator.engine.events import FillEvent
from simulator.engine.matching import MatchingEngine
from simulator.engine.orders import SimFill
from simulator.faults import FaultInjector
from simulator.http.auth import JwtVerifier
from simulator.keys import KeyStore
from simulator.store import SimStateStore
from simulator.ws.hub import WsHub


class SimContext:
    def __init__(self, config: SimulatorConfig, engine: MatchingEngine, clock: SimClock, faults: FaultInjector,
                 keys: KeyStore, verifier: JwtVerifier, store: SimStateStore | None = None) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self.faults = faults
        self.keys = keys
        self.verifier = verifier
        self.store = store  # durable books: written in pump(), before any answer leaves
        self.hub = WsHub(self)
        self._fill_visible_at: dict[str, datetime] = {}
        self.stepper: Callable[[int], Awaitable[None]] | None = None  # set by the running simulator

    def now(self) -> datetime:
        return self.clock.now()

    def pump(self) -> None:
        """Hand the engine's events to the WebSocket hub; decide when each new fill shows on REST."""
        events = self.engine.drain_events()
        if self.store is not None:
            self.store.persist(self.engine, events, self.clock.now())
        for event in events:
            if isinstance(event, FillEvent):
                lag = self.config.fills_lag_s
                rule = self.faults.take("fills_lag")
                if rule is not None:
                    lag = max(lag, float(rule.params.get("lag_s", 5.0)))
                if lag > 0:
                    self._fill_visible_at[event.fill.trade_id] = event.fill.trade_time + timedelta(seconds=lag)
        self.hub.dispatch(events)

    def fill_visible(self, fill: SimFill, now: datetime) -> bool:
        due = self._fill_visible_at.get(fill.trade_id)
        if due is None:
            return True
        if due <= now:
            del self._fill_visible_at[fill.trade_id]
            return True
        return False
