"""The paper account's books on disk: balances, orders, fills, prices and candles, in SIM_STATE_DIR.

Why SQLite (stdlib `sqlite3`) in WAL mode: the simulator is one process that owns one account, so an
embedded, transactional file beside its certificates and keys is the simplest store that is still
atomic — no server to run, nothing to install, and it works the same inside `both` and standalone.
A PostgreSQL schema would tie the exchange's books to the daemon's database, which is exactly the
coupling the account-identity check exists to catch (the two must be able to disagree).

Durability rule: `SimContext.pump()` calls `persist()` after every engine call and before the HTTP
answer or WebSocket message leaves, and one SQLite transaction holds everything that call changed
(orders, fills, balances, prices, candles). WAL with synchronous=NORMAL survives a kill -9 of the
process at any point (a committed transaction is in the OS's hands); a kill before the commit loses
only a change nobody was told about. `synchronous=FULL` (SimulatorConfig.state_synchronous) also
survives power loss at the cost of an fsync per acknowledged change.

Values are JSON with tagged Decimals and datetimes, one row per order/fill, so fields added to
SimOrder later (edits, previews) round-trip without a schema change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from simulator.engine.accounts import Ledger, Wallet
from simulator.engine.candles import MINUTE, Bucket, CandleSeries
from simulator.engine.events import EngineEvent, FillEvent, OrderEvent, TickerEvent, TradeEvent
from simulator.engine.matching import MatchingEngine
from simulator.engine.orders import EditRecord, OrderSpec, SimFill, SimOrder, parse_order_configuration

STATE_FILE_NAME = "exchange.sqlite3"
LOCK_FILE_NAME = "exchange.lock"
SCHEMA_VERSION = "1"
CHECKPOINT_INTERVAL_S = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS wallets (currency TEXT PRIMARY KEY, uuid TEXT NOT NULL, available TEXT NOT NULL,
                                    hold TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL,
                                   created_seq INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fills (seq INTEGER PRIMARY KEY AUTOINCREMENT, trade_id TEXT NOT NULL UNIQUE,
                                  data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS markets (product_id TEXT PRIMARY KEY, price TEXT NOT NULL, trade_seq INTEGER NOT NULL,
                                    last_time TEXT);
CREATE TABLE IF NOT EXISTS candles (product_id TEXT NOT NULL, start INTEGER NOT NULL, open TEXT NOT NULL,
                                    high TEXT NOT NULL, low TEXT NOT NULL, close TEXT NOT NULL,
                                    volume TEXT NOT NULL, PRIMARY KEY (product_id, start));
"""


class StateLocked(RuntimeError):
    """Another simulator already owns this state directory."""


# ---- JSON with exact Decimals and aware datetimes -------------------------------------------------
def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$d": str(value)}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    raise TypeError(f"cannot store {type(value).__name__}")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$d" in obj:
            return Decimal(obj["$d"])
        if "$t" in obj:
            return datetime.fromisoformat(obj["$t"])
    return obj


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def loads(text: str) -> Any:
    return json.loads(text, object_hook=_hook)


def order_to_dict(order: SimOrder) -> dict[str, Any]:
    out = {f.name: getattr(order, f.name) for f in dataclasses.fields(order) if f.name != "spec"}
    out["spec"] = {"config_key": order.spec.config_key, "raw": order.spec.raw}
    out["edit_history"] = [dataclasses.asdict(edit) for edit in order.edit_history]
    return out


def order_from_dict(data: dict[str, Any]) -> SimOrder:
    spec_data = data.pop("spec")
    spec = parse_order_configuration({spec_data["config_key"]: spec_data["raw"]})
    if not isinstance(spec, OrderSpec):  # it was accepted once; the same text parses the same way
        raise ValueError(f"stored order {data.get('order_id')} has an unparsable configuration")
    known = {f.name for f in dataclasses.fields(SimOrder)}
    data["edit_history"] = tuple(EditRecord(**edit) for edit in data.get("edit_history", ()))
    return SimOrder(spec=spec, **{k: v for k, v in data.items() if k in known})


def fill_to_dict(fill: SimFill) -> dict[str, Any]:
    return dataclasses.asdict(fill)


def fill_from_dict(data: dict[str, Any]) -> SimFill:
    known = {f.name for f in dataclasses.fields(SimFill)}
    return SimFill(**{k: v for k, v in data.items() if k in known})


# ---- the store ------------------------------------------------------------------------------------
class SimStateStore:
    """One state directory's SQLite file; the process holds an exclusive lock on it while open."""

    def __init__(self, state_dir: Path, synchronous: str = "NORMAL") -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / STATE_FILE_NAME
        self._lock_fd = os.open(state_dir / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise StateLocked(f"another simulator (standalone or in `both`) is using {state_dir}") from None
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError("state_synchronous must be NORMAL or FULL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        # Checkpoints (WAL → database file, with an fsync) run on a thread of their own, so an answer
        # never waits for one; a commit is durable against kill -9 once it is in the WAL.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.executescript(_SCHEMA)
        self._checkpoint_stop = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="sim-state-checkpoint",
                                              daemon=True)
        self._checkpointer.start()
        self._wallets_saved: dict[str, tuple[str, Decimal, Decimal]] = {}
        self._order_seq = int(self._db.execute("SELECT COALESCE(MAX(created_seq), 0) FROM orders").fetchone()[0])

    def _checkpoint_loop(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._checkpoint_stop.wait(CHECKPOINT_INTERVAL_S):
                with contextlib.suppress(sqlite3.Error):  # busy now: the next round catches up
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def close(self) -> None:
        self._checkpoint_stop.set()
        self._checkpointer.join(timeout=5)
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---- identity -------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @property
    def is_new(self) -> bool:
        return self.meta("account_id") is None

    def counts(self) -> dict[str, int]:
        return {table: int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                for table in ("orders", "fills", "wallets")}

    # ---- writing --------------------------------------------------------------------------------
    def initialise(self, engine: MatchingEngine, now: datetime) -> None:
        """First start: the account's identity, opening balances, prices and the seeded candle history."""
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [
                ("schema", SCHEMA_VERSION), ("account_id", engine.config.portfolio_id),
                ("user_id", engine.config.user_id), ("created_at", now.isoformat()),
            ])
            self._save_wallets(db, engine.ledger, force=True)
            for market in engine.markets.values():
                self._save_market(db, engine, market.product_id)
                db.executemany(
                    "INSERT OR REPLACE INTO candles VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(market.product_id, b.start, str(b.open), str(b.high), str(b.low), str(b.close), str(b.volume))
                     for b in market.candles.window(0, 2**62)])

    def persist(self, engine: MatchingEngine, events: Iterable[EngineEvent], now: datetime) -> None:
        """Everything one engine call changed, in one transaction (called before anyone is told)."""
        order_ids: dict[str, None] = {}
        fills: list[SimFill] = []
        products: dict[str, None] = {}
        for event in events:
            if isinstance(event, OrderEvent):
                order_ids[event.order.order_id] = None
            elif isinstance(event, FillEvent):
                fills.append(event.fill)
            elif isinstance(event, TickerEvent):
                products[event.product_id] = None
            elif isinstance(event, TradeEvent):
                products[event.trade.product_id] = None
        wallets_changed = self._wallets_changed(engine.ledger)
        if not (order_ids or fills or products or wallets_changed):
            return
        with self._tx() as db:
            for order_id in order_ids:
                order = engine.orders.get(order_id)
                if order is not None:
                    self._save_order(db, order)
            db.executemany("INSERT OR IGNORE INTO fills (trade_id, data) VALUES (?, ?)",
                           [(f.trade_id, dumps(fill_to_dict(f))) for f in fills])
            if wallets_changed:
                self._save_wallets(db, engine.ledger)
            for product_id in products:
                self._save_market(db, engine, product_id, now)
            if products:  # the clock never goes back on restore (ticks come at least every tick interval)
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('clock_at', ?)", (now.isoformat(),))

    def _save_order(self, db: sqlite3.Connection, order: SimOrder) -> None:
        self._order_seq += 1  # kept from the first insert only: the creation order
        db.execute("INSERT INTO orders (order_id, client_order_id, created_seq, data) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (order_id) DO UPDATE SET data = excluded.data",
                   (order.order_id, order.client_order_id, self._order_seq, dumps(order_to_dict(order))))

    def _wallets_changed(self, ledger: Ledger) -> bool:
        current = {c: (w.uuid, w.available, w.hold) for c, w in ledger.wallets.items()}
        return current != self._wallets_saved

    def _save_wallets(self, db: sqlite3.Connection, ledger: Ledger, force: bool = False) -> None:
        current = {c: (w.uuid, w.available, w.hold) for c, w in ledger.wallets.items()}
        rows = [(c, u, str(a), str(h)) for c, (u, a, h) in current.items()
                if force or self._wallets_saved.get(c) != (u, a, h)]
        db.executemany("INSERT OR REPLACE INTO wallets VALUES (?, ?, ?, ?)", rows)
        self._wallets_saved = current

    def _save_market(self, db: sqlite3.Connection, engine: MatchingEngine, product_id: str,
                     now: datetime | None = None) -> None:
        market = engine.markets[product_id]
        last = market.last_time
        db.execute("INSERT OR REPLACE INTO markets VALUES (?, ?, ?, ?)",
                   (product_id, str(market.price), market._trade_seq, last.isoformat() if last else None))
        minutes = {int(t.timestamp()) // MINUTE * MINUTE for t in (last, now) if t is not None}
        for start in minutes:
            b = market.candles.bucket(start)
            if b is not None:
                db.execute("INSERT OR REPLACE INTO candles VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (product_id, b.start, str(b.open), str(b.high), str(b.low), str(b.close), str(b.volume)))

    # ---- reading back ---------------------------------------------------------------------------
    def restore(self, engine: MatchingEngine) -> None:
        """Replace a freshly built engine's account and market state by what is stored."""
        engine.ledger.wallets = {
            c: Wallet(c, u, Decimal(a), Decimal(h))
            for c, u, a, h in self._db.execute("SELECT currency, uuid, available, hold FROM wallets")}
        for fresh in engine.markets.values():  # products added since the last run keep their fresh wallets
            for currency in (fresh.state.spec.base_currency, fresh.state.spec.quote_currency):
                engine.ledger.open(currency, str(uuid.uuid4()))
        self._wallets_saved = {c: (w.uuid, w.available, w.hold) for c, w in engine.ledger.wallets.items()}
        orders = [order_from_dict(loads(d))
                  for (d,) in self._db.execute("SELECT data FROM orders ORDER BY created_seq")]
        engine.restore_books(orders, [fill_from_dict(loads(d)) for (d,) in
                                      self._db.execute("SELECT data FROM fills ORDER BY seq")])
        for product_id, price, trade_seq, last_time in self._db.execute("SELECT * FROM markets"):
            market = engine.markets.get(product_id)
            if market is None:
                continue  # a product no longer configured: its books stay on disk
            market.price = Decimal(price)
            market._trade_seq = int(trade_seq)
            market.last_time = datetime.fromisoformat(last_time) if last_time else None
            market.rebuild_book()
            series = CandleSeries()
            for start, o, h, lo, c, v in self._db.execute(
                    "SELECT start, open, high, low, close, volume FROM candles WHERE product_id = ? ORDER BY start",
                    (product_id,)):
                series.add_bucket(Bucket(int(start), Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(v)))
            market.candles = series
        known = {r[0] for r in self._db.execute("SELECT product_id FROM markets")}
        new = [pid for pid in engine.markets if pid not in known]
        if new:  # products configured since the last run start from their seeded state
            with self._tx() as db:
                for pid in new:
                    self._save_market(db, engine, pid)

    def clock_at(self) -> datetime | None:
        value = self.meta("clock_at")
        return datetime.fromisoformat(value) if value else None


def remove_state(state_dir: Path) -> list[str]:
    """Delete the simulator's books (not its certificates or keys); returns what was removed."""
    removed = []
    for name in (STATE_FILE_NAME, f"{STATE_FILE_NAME}-wal", f"{STATE_FILE_NAME}-shm"):
        path = state_dir / name
        if path.exists():
            path.unlink()
            removed.append(str(path))
    return removed
