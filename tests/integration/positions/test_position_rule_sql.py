"""bt_is_position (SQL) agrees with core.position_rule; open_positions lists positions, dust_balances dust."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from sqlalchemy import text

from exchange.models import Product
from shared_data import product_rules
from shared_data.db import unit_of_work
from tests.unit.test_position_rule import CASES, COARSE, ETH


def _product(pid: str, inc: D, minimum: D) -> Product:
    return Product(pid, pid.split("-")[0], "USD", D("1"), inc, D("0.01"), D("0.01"), minimum, D("1e6"), D("1"),
                   D("1e7"), D("0"), D("0"), "online")


async def test_sql_position_rule_matches_python(db_sessions) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with unit_of_work(db_sessions) as session:
        await product_rules.record(session, [_product("ETH-USD", ETH.base_increment, ETH.base_min_size),
                                             _product("CRS-USD", COARSE.base_increment, COARSE.base_min_size)], now)
    symbol = {id(ETH): "ETH-USD", id(COARSE): "CRS-USD"}
    async with db_sessions() as session:
        for size, rule, expected in CASES:
            sym = "NONE-USD" if rule is None else symbol[id(rule)]
            got = (await session.execute(text("SELECT bt_is_position(:s, CAST(:z AS numeric))"),
                                         {"s": sym, "z": format(size, "f")})).scalar_one()
            assert got is expected, (sym, size)
