"""Engine builders for unit tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from simulator.engine.matching import EngineConfig, MatchingEngine
from simulator.engine.products import default_spec

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
D = Decimal


def make_engine(balances: dict[str, Decimal] | None = None, products: tuple[str, ...] = ("BTC-USD", "ETH-USD"),
                **config: Any) -> MatchingEngine:
    cfg = EngineConfig(history_minutes=config.pop("history_minutes", 30), **config)
    return MatchingEngine(cfg, [default_spec(p) for p in products], T0,
                          balances if balances is not None else {"USD": D("100000")})


def limit(size: str, price: str, post_only: bool = False, key: str = "limit_limit_gtc") -> dict[str, Any]:
    return {key: {"base_size": size, "limit_price": price, "post_only": post_only}}
