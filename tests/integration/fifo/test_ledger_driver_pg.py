"""FifoLedger.apply_on (a transaction on the driver, the fill recorder's) writes what apply_fills writes."""

from __future__ import annotations

import pytest

from core.enums import IngestVia
from core.settings import load_settings
from fifo_engine.engine import FifoBook
from fifo_engine.ledger import FifoLedger
from fifo_engine.model import EngineConfig
from shared_data import direct
from shared_data.trade_recorder import fills_arguments, insert_fills_sql, new_fills
from tests.integration.fifo.helpers import (
    Sessions,
    add_orders,
    allocation_texts,
    derived_texts,
    random_fills,
    record,
    wipe,
)

SETTINGS = load_settings()


def empty_ledger() -> FifoLedger:
    return FifoLedger(FifoBook(EngineConfig.from_settings(SETTINGS)))


async def test_apply_on_writes_the_rows_of_apply_fills(db_sessions: Sessions) -> None:
    fills = random_fills(7, 120)  # out-of-order arrivals included: later sells are recomputed
    batches = [fills[i:i + 5] for i in range(0, len(fills), 5)]
    results = []
    for on_driver in (False, True):
        await wipe(db_sessions)
        await add_orders(db_sessions, fills)
        ledger = empty_ledger()
        for batch in batches:
            if not on_driver:
                await record(db_sessions, ledger, batch)
                continue
            try:
                async with direct.transaction(db_sessions) as driver:
                    rows = await driver.fetch(insert_fills_sql(), *fills_arguments(batch, IngestVia.REST))
                    await ledger.apply_on(driver, new_fills(batch, rows))
            except BaseException:
                ledger.rollback()
                raise
            ledger.commit()
        assert not ledger.pending
        results.append((await allocation_texts(db_sessions), await derived_texts(db_sessions), ledger.positions()))
    assert results[0][0] and results[0] == results[1]


async def test_apply_on_needs_a_transaction_and_its_stage_rolls_back(db_sessions: Sessions) -> None:
    await wipe(db_sessions)
    fills = random_fills(3, 6)
    await add_orders(db_sessions, fills)
    ledger = empty_ledger()
    with pytest.raises(RuntimeError):  # outside a transaction
        async with db_sessions.kw["bind"].execution_options(isolation_level="AUTOCOMMIT").connect() as c:
            raw = await c.get_raw_connection()
            await ledger.apply_on(raw.driver_connection, fills)
    assert not ledger.pending
    async with direct.transaction(db_sessions) as driver:
        rows = await driver.fetch(insert_fills_sql(), *fills_arguments(fills, IngestVia.REST))
        await ledger.apply_on(driver, new_fills(fills, rows))
        assert ledger.pending
    ledger.rollback()  # as if the COMMIT had failed
    assert not ledger.pending and all(not p.is_open for p in ledger.positions())
