"""Rebuilds over ids and names that need escaping in COPY text or in array literals, with chunks and
field batches small enough that every fast path and cache is crossed: a lot consumed chunks after
its buy (its memoised COPY text), sells spanning chunks, many field batches between COPYs."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import pytest
from sqlalchemy import text

from core.settings import load_settings
from fifo_engine.ledger import FifoLedger
from fifo_engine.model import FillFact
from fifo_engine.rebuild import check, rebuild
from tests.integration.fifo.helpers import (
    Sessions,
    add_orders,
    allocation_texts,
    derived_texts,
    random_fills,
    record,
    table_texts,
    wipe,
)

SETTINGS = load_settings()

# COPY text escapes (tab, backslash, newline, CR, \N, \.) and array-literal quoting (quote, braces,
# spaces, the word NULL); the plain ones keep the fast paths in use for the other ids.
NEEDS_COPY_ESCAPE = ["{0}\t", "{0}\\", "{0}\n", "{0}\r", "\\N{0}", "\\.{0}"]
NEEDS_ARRAY_QUOTES = ['{0}"q', "{{{0},x}}", "{0} sp", "{0}\x0b", "{0}\xa0", "ор{0}"]
PLAIN = ["{0}", "{0}", "{0}"]


def _odd_fills(seed: int, n: int, patterns: list[str], names: dict[str, str], specials: list[str]) -> list[FillFact]:
    """random_fills with every id rewritten by a random pattern; some order ids replaced by
    `specials` and portfolio/symbol names by `names`; some times get microseconds."""
    rnd = random.Random(seed)
    orders: dict[str, str] = {}
    spare = iter(specials)
    out = []
    for f in random_fills(seed, n):
        if f.order_id not in orders:
            special = next(spare, None) if int(f.order_id.split("-")[1]) % 7 == 3 else None
            orders[f.order_id] = special or rnd.choice(patterns).format(f.order_id)
        out.append(dataclasses.replace(
            f, order_id=orders[f.order_id], trade_id=rnd.choice(patterns).format(f.trade_id),
            portfolio_id=names.get(f.portfolio_id, f.portfolio_id), symbol=names.get(f.symbol, f.symbol),
            trade_time=f.trade_time + timedelta(microseconds=rnd.choice([0, 0, 1, 500_000, 123_456]))))
    return out


KINDS = {
    "copy_escapes": lambda: _odd_fills(7, 300, NEEDS_COPY_ESCAPE + NEEDS_ARRAY_QUOTES + PLAIN,
                                       {"p2": "p\t\\2", "CCC-USD": "C\\C\tUSD"}, ["NULL", "null", "Null ", "NULL\\"]),
    "array_quotes_only": lambda: _odd_fills(8, 300, NEEDS_ARRAY_QUOTES + PLAIN, {"p2": "p 2", "CCC-USD": "C{C}"},
                                            ["NULL", "null", "nULl"]),
}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_odd_ids_rebuild_byte_identical_in_every_path(db_sessions: Sessions, monkeypatch: pytest.MonkeyPatch,
                                                            kind: str, workers: int) -> None:
    from fifo_engine import parallel, recompute

    fills = KINDS[kind]()
    await wipe(db_sessions)
    await add_orders(db_sessions, fills)
    async with db_sessions() as s, s.begin():
        ledger = await FifoLedger.load(s, SETTINGS)
    for i in range(0, len(fills), 3):
        await record(db_sessions, ledger, fills[i:i + 3])
    rows, derived = await allocation_texts(db_sessions), await derived_texts(db_sessions)
    assert any('"' in d for d in derived)  # some parent arrays needed quoting
    settings = SETTINGS.model_copy(update={"fifo_workers": workers})
    monkeypatch.setattr(recompute, "CHUNK", 7)
    monkeypatch.setattr(parallel, "CHUNK", 7)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_FILLS", 1)
    monkeypatch.setattr(parallel, "FIELD_BATCH_ORDERS", 3)
    assert await check(db_sessions, settings) == []

    # Consistent data: nothing written.
    before = await table_texts(db_sessions)
    stats = await rebuild(db_sessions, settings, progress=False)
    assert (stats.inserted, stats.deleted, stats.sell_orders_updated, stats.buy_orders_updated) == (0, 0, 0, 0)
    assert stats.workers == workers
    assert await table_texts(db_sessions) == before

    # From empty: the same bytes as the real-time path.
    async with db_sessions() as s, s.begin():
        await s.execute(text("DELETE FROM fifo_allocations"))
        await s.execute(text("UPDATE trade_records SET pnl_usd = NULL, realized_profit = NULL, cost_basis_usd = NULL,"
                             " sale_proceeds_usd = NULL, net_sale_proceeds_usd = NULL, parent_id = NULL,"
                             " parent_ids = NULL, remaining_size = NULL"))
    await rebuild(db_sessions, settings, progress=False)
    assert await allocation_texts(db_sessions) == rows
    assert await derived_texts(db_sessions) == derived
    assert await check(db_sessions, settings) == []

    # Stored rows partly wrong: the compare path repairs them.
    async with db_sessions() as s, s.begin():
        await s.execute(text("UPDATE fifo_allocations SET pnl_usd = pnl_usd + 1 WHERE id % 5 = 0"))
        await s.execute(text("UPDATE trade_records SET parent_ids = NULL,"
                             " remaining_size = CASE WHEN side = 'BUY' THEN 0 END"))
    stats = await rebuild(db_sessions, settings, progress=False)
    assert stats.deleted == stats.inserted > 0
    assert await allocation_texts(db_sessions) == rows
    assert await derived_texts(db_sessions) == derived
