"""`fifo rebuild` and `fifo check` on a real PostgreSQL."""

from __future__ import annotations

import argparse
import json
import random

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.settings import load_settings
from fifo_engine import cli
from fifo_engine.ledger import FifoLedger
from fifo_engine.model import ALLOCATION_COLUMNS, FillFact
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


async def _incremental(sessions: Sessions, seed: int, n: int) -> None:
    """Record random fills through the real-time path, in batches, in a shuffled arrival order."""
    await wipe(sessions)
    fills = random_fills(seed, n)
    await add_orders(sessions, fills)
    rnd = random.Random(seed)
    arrival = sorted(fills, key=lambda f: (f.trade_time, rnd.random()))  # ties arrive in any order …
    for _ in range(n // 10):  # … and some fills arrive late
        i, j = rnd.randrange(n), rnd.randrange(n)
        arrival[i], arrival[j] = arrival[j], arrival[i]
    async with sessions() as s, s.begin():
        ledger = await FifoLedger.load(s, SETTINGS)
    i = 0
    while i < n:
        size = rnd.randint(1, 4)
        await record(sessions, ledger, arrival[i:i + size])
        i += size


async def test_rebuild_is_byte_identical_to_the_incremental_path(db_sessions: Sessions) -> None:
    await _incremental(db_sessions, seed=11, n=400)
    rows, derived = await allocation_texts(db_sessions), await derived_texts(db_sessions)
    assert len(rows) > 200 and any(",t)" in r for r in rows)  # slices, some with missing basis

    # On consistent data a rebuild writes nothing.
    stats = await rebuild(db_sessions, SETTINGS, progress=False)
    assert (stats.fills, stats.inserted, stats.deleted, stats.unchanged) == (400, 0, 0, len(rows))
    assert (stats.sell_orders_updated, stats.buy_orders_updated) == (0, 0)
    assert await check(db_sessions, SETTINGS) == []

    # From nothing, it writes exactly what the real-time path wrote.
    async with db_sessions() as s, s.begin():
        await s.execute(text("DELETE FROM fifo_allocations"))
        await s.execute(text("UPDATE trade_records SET pnl_usd = NULL, realized_profit = NULL, cost_basis_usd = NULL,"
                             " sale_proceeds_usd = NULL, net_sale_proceeds_usd = NULL, parent_id = NULL,"
                             " parent_ids = NULL, remaining_size = NULL"))
    stats = await rebuild(db_sessions, SETTINGS, progress=False)
    assert stats.inserted == len(rows) and stats.deleted == 0
    assert await allocation_texts(db_sessions) == rows
    assert await derived_texts(db_sessions) == derived
    assert await check(db_sessions, SETTINGS) == []


async def test_symbol_rebuild_repairs_only_that_symbol(db_sessions: Sessions) -> None:
    await _incremental(db_sessions, seed=5, n=120)
    rows = await allocation_texts(db_sessions)
    async with db_sessions() as s, s.begin():
        await s.execute(text("UPDATE fifo_allocations SET pnl_usd = pnl_usd + 1"))
    stats = await rebuild(db_sessions, SETTINGS, symbol="AAA-USD", progress=False)
    assert stats.symbol == "AAA-USD" and stats.deleted == stats.inserted > 0
    found = await check(db_sessions, SETTINGS)
    assert found and {i.symbol for i in found} == {"BBB-USD", "CCC-USD"}
    assert await check(db_sessions, SETTINGS, symbol="AAA-USD") == []
    await rebuild(db_sessions, SETTINGS, progress=False)
    assert await allocation_texts(db_sessions) == rows


async def test_check_reports_injected_inconsistencies_and_changes_nothing(db_sessions: Sessions) -> None:
    await _incremental(db_sessions, seed=3, n=150)
    async with db_sessions() as s:
        victims = (await s.execute(text(
            "SELECT DISTINCT ON (sell_order_id) sell_trade_id, sell_order_id FROM fifo_allocations "
            "WHERE NOT missing_basis ORDER BY sell_order_id, sell_trade_id LIMIT 3"))).all()
        buy_order = (await s.execute(text("SELECT order_id FROM trade_records WHERE side = 'BUY' "
                                          "AND remaining_size IS NOT NULL ORDER BY order_id LIMIT 1"))).scalar_one()
    changed, deleted, other = victims
    async with db_sessions() as s, s.begin():
        await s.execute(text("UPDATE fifo_allocations SET pnl_usd = pnl_usd + 0.000000000000000001 "
                             "WHERE sell_trade_id = :t AND slice_index = 0"), {"t": changed[0]})
        await s.execute(text("DELETE FROM fifo_allocations WHERE sell_trade_id = :t"), {"t": deleted[0]})
        await s.execute(text(
            "INSERT INTO fifo_allocations (symbol, sell_order_id, buy_order_id, sell_trade_id, buy_trade_id, "
            "slice_index, allocated_size, buy_price, sell_price, buy_fees_per_unit, sell_fees_per_unit, "
            "cost_basis_usd, proceeds_usd, net_proceeds_usd, pnl_usd, buy_time, sell_time, holding_term) "
            "VALUES ('AAA-USD', 'ghost-order', 'ghost-buy', 'ghost-trade', 'ghost-buy-trade', 0, 1, 1, 2, 0, 0, 1, 2,"
            " 2, 1, now(), now(), 'short')"))
        await s.execute(text("UPDATE trade_records SET parent_ids = ARRAY['someone-else'] WHERE order_id = :o"),
                        {"o": other[1]})
        await s.execute(text("UPDATE trade_records SET remaining_size = -1 WHERE order_id = :o"), {"o": buy_order})
    before = await table_texts(db_sessions)
    found = await check(db_sessions, SETTINGS)
    assert await table_texts(db_sessions) == before  # the validator changed nothing
    kinds = {(i.kind, i.reference.split("#")[0]) for i in found}
    assert ("allocation_differs", changed[0]) in kinds
    assert ("row_arithmetic", changed[0]) in kinds
    assert ("allocation_missing", deleted[0]) in kinds
    assert ("sell_allocation_size", deleted[0]) in kinds
    assert ("allocation_unexpected", "ghost-trade") in kinds
    assert ("orphan_sell_reference", "ghost-trade") in kinds
    assert ("orphan_buy_reference", "ghost-trade") in kinds
    assert ("order_fields_differ", other[1]) in kinds
    assert ("order_fields_differ", buy_order) in kinds
    assert ("order_fields_differ", deleted[1]) in kinds  # its pnl no longer matches its (missing) slices

    stats = await rebuild(db_sessions, SETTINGS, progress=False)
    assert stats.deleted == 2 and stats.inserted >= 2  # the changed row and the ghost; the deleted slices back
    assert await check(db_sessions, SETTINGS) == []


async def test_cli_verbs(db_sessions: Sessions, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    await _incremental(db_sessions, seed=9, n=60)
    settings = load_settings(database_url=db_url)
    assert await cli._check(settings, argparse.Namespace(symbol=None, json=False, limit=5, progress=False)) == 0
    assert "fifo check: consistent (0 inconsistencies)" in capsys.readouterr().out  # the verdict is on stdout
    async with db_sessions() as s, s.begin():
        await s.execute(text("UPDATE fifo_allocations SET holding_term = 'long' WHERE slice_index = 0"))
    capsys.readouterr()
    assert await cli._check(settings, argparse.Namespace(symbol=None, json=True, limit=5, progress=False)) == 1
    # (Unconfigured structlog prints to stdout in tests; the daemon's logs go to stderr.)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"kind"')]
    assert lines and {line["kind"] for line in lines} == {"allocation_differs"}
    assert await cli._rebuild(settings, argparse.Namespace(symbol=None, no_progress=True, json=True)) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])  # the JSON comes last
    assert stats["deleted"] == stats["inserted"] == len(lines)
    assert await cli._check(settings, argparse.Namespace(symbol=None, json=False, limit=5, progress=False)) == 0


async def _index_defs(sessions: Sessions) -> list[str]:
    async with sessions() as s:
        rows = await s.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'fifo_allocations' "
                                    "ORDER BY indexname"))
        return [r[0] for r in rows]


async def test_bulk_rebuild_recreates_every_index(db_sessions: Sessions, monkeypatch: pytest.MonkeyPatch) -> None:
    from fifo_engine import rebuild as rebuild_module

    await _incremental(db_sessions, seed=21, n=90)
    rows, indexes = await allocation_texts(db_sessions), await _index_defs(db_sessions)
    assert len(indexes) == 5  # pkey, the (sell_trade_id, slice_index) constraint and three indexes
    async with db_sessions() as s, s.begin():
        await s.execute(text("DELETE FROM fifo_allocations"))
    monkeypatch.setattr(rebuild_module, "BULK_FILLS", 1)  # take the drop-load-recreate path
    stats = await rebuild(db_sessions, SETTINGS, progress=False)
    assert stats.inserted == len(rows)
    assert await _index_defs(db_sessions) == indexes
    assert await allocation_texts(db_sessions) == rows
    cols = ", ".join(ALLOCATION_COLUMNS)
    async with db_sessions() as s:  # the (sell_trade_id, slice_index) constraint is back and enforced
        with pytest.raises(IntegrityError, match="uq_fifo_allocations_sell_slice"):
            await s.execute(text(f"INSERT INTO fifo_allocations ({cols}) SELECT {cols} FROM fifo_allocations LIMIT 1"))


async def test_ids_that_need_escaping_survive_copy_and_arrays(db_sessions: Sessions) -> None:
    from tests.unit.fifo.factories import fill

    await wipe(db_sessions)
    odd = ['buy, "one"', "buy\\two\t{x}", "NULL", "sell one\nline"]
    fills = [
        fill("t\\1", "BUY", "1", "10", "0.3", 0, order_id=odd[0]),
        fill("t\t2", "BUY", "1", "11", "0.3", 1, order_id=odd[1]),
        fill("t3", "BUY", "1", "12", "0.3", 2, order_id=odd[2]),
        fill("t 4", "SELL", "2.5", "20", "0.7", 3, order_id=odd[3]),
    ]
    await add_orders(db_sessions, fills)
    async with db_sessions() as s, s.begin():
        ledger = await FifoLedger.load(s, SETTINGS)
    await record(db_sessions, ledger, fills)
    rows, derived = await allocation_texts(db_sessions), await derived_texts(db_sessions)
    async with db_sessions() as s, s.begin():
        sell = (await s.execute(text("SELECT parent_ids FROM trade_records WHERE order_id = :o"),
                                {"o": odd[3]})).scalar_one()
        await s.execute(text("DELETE FROM fifo_allocations"))
        await s.execute(text("UPDATE trade_records SET pnl_usd = NULL, realized_profit = NULL, parent_id = NULL,"
                             " parent_ids = NULL, remaining_size = NULL"))
    assert sell == odd[:3]
    await rebuild(db_sessions, SETTINGS, progress=False)
    assert await allocation_texts(db_sessions) == rows
    assert await derived_texts(db_sessions) == derived
    assert await check(db_sessions, SETTINGS) == []


# ---- worker processes (fifo_engine/parallel.py) ---------------------------------------------------
TWO_WORKERS = SETTINGS.model_copy(update={"fifo_workers": 2})
ONE_PROCESS = SETTINGS.model_copy(update={"fifo_workers": 1})


async def _clear_results(sessions: Sessions) -> None:
    async with sessions() as s, s.begin():
        await s.execute(text("DELETE FROM fifo_allocations"))
        await s.execute(text("UPDATE trade_records SET pnl_usd = NULL, realized_profit = NULL, cost_basis_usd = NULL, "
                             "sale_proceeds_usd = NULL, net_sale_proceeds_usd = NULL, parent_id = NULL, "
                             "parent_ids = NULL, remaining_size = NULL"))


async def test_worker_processes_write_the_same_bytes_as_one_process(db_sessions: Sessions,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from fifo_engine import parallel

    await _incremental(db_sessions, seed=31, n=600)
    rows, derived = await allocation_texts(db_sessions), await derived_texts(db_sessions)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_FILLS", 1)  # take the worker path at this size

    await _clear_results(db_sessions)  # from empty: straight into fifo_allocations
    stats = await rebuild(db_sessions, TWO_WORKERS, progress=False)
    assert (stats.workers, stats.fills, stats.inserted) == (2, 600, len(rows))
    assert await allocation_texts(db_sessions) == rows
    assert await derived_texts(db_sessions) == derived

    async with db_sessions() as s, s.begin():  # damage one row: the compare path replaces exactly it
        await s.execute(text("UPDATE fifo_allocations SET pnl_usd = pnl_usd + 1 WHERE id = (SELECT min(id) "
                             "FROM fifo_allocations)"))
    found = await check(db_sessions, TWO_WORKERS)
    assert [f.kind for f in found if f.kind.startswith("allocation")] == ["allocation_differs"]
    stats = await rebuild(db_sessions, TWO_WORKERS, progress=False)
    assert (stats.workers, stats.inserted, stats.deleted) == (2, 1, 1)
    assert await allocation_texts(db_sessions) == rows
    assert await check(db_sessions, TWO_WORKERS) == []

    stats = await rebuild(db_sessions, ONE_PROCESS, progress=False)  # FIFO_WORKERS=1: no processes
    assert (stats.workers, stats.inserted, stats.deleted) == (1, 0, 0)


async def _record_all(sessions: Sessions, fills: list[FillFact]) -> None:
    await wipe(sessions)
    await add_orders(sessions, fills)  # an order's row takes the symbol of its last fill
    async with sessions() as s, s.begin():
        ledger = await FifoLedger.load(s, SETTINGS)
    await record(sessions, ledger, fills)


async def test_an_order_id_under_two_symbols_gets_the_reference_fields(db_sessions: Sessions,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers split by symbol; bad data with one order id on two symbols must still come out right."""
    from fifo_engine import parallel
    from tests.unit.fifo.factories import fill

    fills = [fill("a1", "BUY", "2", "10", "0.1", 0, symbol="AAA-USD", order_id="both"),
             fill("b1", "BUY", "3", "20", "0.2", 1, symbol="BBB-USD", order_id="both"),
             fill("a2", "SELL", "1", "15", "0.1", 2, symbol="AAA-USD", order_id="sell-a"),
             fill("b2", "SELL", "1", "25", "0.1", 3, symbol="BBB-USD", order_id="sell-b")]
    await _record_all(db_sessions, fills)
    derived = await derived_texts(db_sessions)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_FILLS", 1)
    await _clear_results(db_sessions)
    stats = await rebuild(db_sessions, TWO_WORKERS, progress=False)
    assert stats.workers == 2
    assert await derived_texts(db_sessions) == derived
    assert "both (,,,,,,,3)" in derived  # bought 2 + 3 under two symbols, 1 + 1 sold
    assert await check(db_sessions, TWO_WORKERS) == []


async def test_an_order_id_under_two_symbols_of_one_worker_gets_the_reference_fields(
        db_sessions: Sessions, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker sends each symbol's orders when the symbol is done: the same order id then comes
    twice from one worker (AAA and BBB share a worker; CCC, the largest, has the other)."""
    from fifo_engine import parallel
    from tests.unit.fifo.factories import fill

    fills = [fill("a1", "BUY", "2", "10", "0.1", 0, symbol="AAA-USD", order_id="both"),
             fill("b1", "BUY", "3", "20", "0.2", 1, symbol="BBB-USD", order_id="both"),
             fill("a2", "SELL", "1", "15", "0.1", 2, symbol="AAA-USD", order_id="sell-x"),
             fill("b2", "SELL", "1", "25", "0.1", 3, symbol="BBB-USD", order_id="sell-x"),
             *(fill(f"c{i}", "BUY" if i % 2 == 0 else "SELL", "1", "5", "0", 4 + i, symbol="CCC-USD",
                    order_id=f"c-{i}") for i in range(6))]
    assert parallel.split_symbols([("AAA-USD", 2), ("BBB-USD", 2), ("CCC-USD", 6)], 2) == [
        ["CCC-USD"], ["AAA-USD", "BBB-USD"]]
    await _record_all(db_sessions, fills)
    derived = await derived_texts(db_sessions)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_FILLS", 1)
    await _clear_results(db_sessions)
    stats = await rebuild(db_sessions, TWO_WORKERS, progress=False)
    assert stats.workers == 2
    assert await derived_texts(db_sessions) == derived
    assert "both (,,,,,,,3)" in derived
    assert await check(db_sessions, TWO_WORKERS) == []


def _sell_order_over_two_symbols() -> list[FillFact]:
    """Bad data: sell order "sell-x" has fills under two symbols. Its parents in the real-time path's
    order (buy fill time) are B then A, while AAA's sell is matched first."""
    from tests.unit.fifo.factories import fill

    return [fill("b1", "BUY", "3", "20", "0.2", 0, symbol="BBB-USD", order_id="B"),
            fill("a1", "BUY", "2", "10", "0.1", 1, symbol="AAA-USD", order_id="A"),
            fill("a2", "SELL", "1", "15", "0.1", 2, symbol="AAA-USD", order_id="sell-x"),
            fill("b2", "SELL", "1", "25", "0.1", 3, symbol="BBB-USD", order_id="sell-x")]


@pytest.mark.parametrize("workers", [1, 2])
async def test_an_order_over_two_symbols_gets_the_reference_parents(db_sessions: Sessions,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     workers: int) -> None:
    from fifo_engine import parallel

    await _record_all(db_sessions, _sell_order_over_two_symbols())
    derived = await derived_texts(db_sessions)
    assert next(d for d in derived if d.startswith("sell-x ")).endswith(',B,"{B,A}",)')  # parents in buy order
    monkeypatch.setattr(parallel, "PARALLEL_MIN_FILLS", 1)
    await _clear_results(db_sessions)
    stats = await rebuild(db_sessions, SETTINGS.model_copy(update={"fifo_workers": workers}), progress=False)
    assert stats.workers == workers
    assert await derived_texts(db_sessions) == derived
    assert await check(db_sessions, SETTINGS) == []


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_rebuild_of_consistent_data_with_an_order_over_two_symbols_writes_nothing(
        db_sessions: Sessions, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    from fifo_engine import parallel

    await _record_all(db_sessions, _sell_order_over_two_symbols())
    monkeypatch.setattr(parallel, "PARALLEL_MIN_FILLS", 1)
    versions = "SELECT order_id, updated_at::text, xmin::text FROM trade_records ORDER BY order_id"
    async with db_sessions() as s:
        before = (await s.execute(text(versions))).all()
    stats = await rebuild(db_sessions, SETTINGS.model_copy(update={"fifo_workers": workers}), progress=False)
    assert (stats.inserted, stats.deleted, stats.sell_orders_updated, stats.buy_orders_updated) == (0, 0, 0, 0)
    async with db_sessions() as s:
        assert (await s.execute(text(versions))).all() == before


async def test_a_rebuild_of_one_symbol_gives_an_order_over_two_symbols_its_whole_fields(
        db_sessions: Sessions) -> None:
    await _record_all(db_sessions, _sell_order_over_two_symbols())
    derived = await derived_texts(db_sessions)
    async with db_sessions() as s, s.begin():  # BBB's part is lost; AAA's stays
        await s.execute(text("DELETE FROM fifo_allocations WHERE symbol = 'BBB-USD'"))
        await s.execute(text("UPDATE trade_records SET pnl_usd = NULL, parent_ids = NULL WHERE order_id = 'sell-x'"))
    stats = await rebuild(db_sessions, SETTINGS, symbol="BBB-USD", progress=False)
    assert stats.inserted == 1
    assert await derived_texts(db_sessions) == derived
    stats = await rebuild(db_sessions, SETTINGS, symbol="BBB-USD", progress=False)
    assert (stats.inserted, stats.deleted, stats.sell_orders_updated, stats.buy_orders_updated) == (0, 0, 0, 0)


async def test_a_failing_worker_aborts_the_rebuild_and_changes_nothing(db_sessions: Sessions,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from fifo_engine import parallel

    await _incremental(db_sessions, seed=41, n=120)
    async with db_sessions() as s, s.begin():  # a value the schema admits and the engine refuses
        await s.execute(text("UPDATE fills SET price = 'NaN' WHERE trade_id = (SELECT max(trade_id) FROM fills)"))
        await s.execute(text("DELETE FROM fifo_allocations WHERE id = (SELECT max(id) FROM fifo_allocations)"))
    before = await table_texts(db_sessions)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_FILLS", 1)
    with pytest.raises(parallel.WorkerFailed, match="price is not finite"):
        await rebuild(db_sessions, TWO_WORKERS, progress=False)
    assert await table_texts(db_sessions) == before
