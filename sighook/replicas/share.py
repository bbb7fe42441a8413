"""Which products a sighook replica should hold: pure decisions over names and counts.

Each replica ranks the products by a rendezvous hash of (replica, product), so replicas prefer
different products and rarely contend; each holds at most its fair share, ceil(products / replicas).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any


def fair_share(products: int, replicas: int) -> int:
    return math.ceil(products / max(1, replicas)) if products else 0


def preference(replica: str, product: str) -> bytes:
    return hashlib.sha256(f"{replica}\x00{product}".encode()).digest()


@dataclass(frozen=True, slots=True)
class LeasePlan:
    release: tuple[str, ...]  # held but no longer ours to compute (excess, or gone from the universe)
    keep: tuple[str, ...]
    try_in_order: tuple[str, ...]  # free-looking products, best first, to try until the share is full
    share: int


def plan_leases(replica: str, universe: Iterable[str], held: Collection[str], replicas: int) -> LeasePlan:
    products = sorted(set(universe), key=lambda p: preference(replica, p))
    share = fair_share(len(products), replicas)
    keep = [p for p in products if p in held][:share]
    kept = set(keep)
    release = sorted(p for p in held if p not in kept)
    wanted = [p for p in products if p not in held] if len(keep) < share else []
    return LeasePlan(tuple(release), tuple(keep), tuple(wanted), share)


def merge_market_data(previous: dict[str, Any] | None, mine: dict[str, Any], owned: Collection[str],
                      owned_by_others: Collection[str]) -> dict[str, Any]:
    """The `market_data` document to publish: ours, with the matrix rows (and skip reasons) of the
    products other live replicas compute carried over from what is stored."""
    old = (previous or {}).get("buy_sell_matrix") or {}
    matrix = dict(mine["buy_sell_matrix"])
    for part in ("rows", "skipped"):
        matrix[part] = merge_rows(dict(old.get(part) or {}), dict(matrix.get(part) or {}), owned, owned_by_others)
    return {**mine, "buy_sell_matrix": matrix}


def merge_rows(previous: dict[str, Any], mine: dict[str, Any], owned: Collection[str],
               owned_by_others: Collection[str]) -> dict[str, Any]:
    """The published rows: ours for the products we hold, the previous ones for products a live
    replica holds; rows of products nobody holds now (a dead replica's) go until someone claims them."""
    rows = {pid: row for pid, row in previous.items() if pid in owned_by_others and pid not in owned}
    rows.update({pid: row for pid, row in mine.items() if pid in owned})
    return rows
