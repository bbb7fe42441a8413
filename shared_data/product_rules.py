"""Products' size rules in the database, so SQL readers apply the one position definition too."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.position_rule import SizeRule
from exchange.models import Product


async def record(session: AsyncSession, products: Iterable[Product], now: datetime) -> int:
    count = 0
    for p in products:
        await session.execute(text(
            """INSERT INTO product_rules (symbol, base_increment, base_min_size, updated_at)
               VALUES (:s, CAST(:inc AS numeric), CAST(:min AS numeric), :now)
               ON CONFLICT (symbol) DO UPDATE SET base_increment = EXCLUDED.base_increment,
                   base_min_size = EXCLUDED.base_min_size, updated_at = EXCLUDED.updated_at"""),
            {"s": p.product_id, "inc": format(p.base_increment, "f"), "min": format(p.base_min_size, "f"), "now": now})
        count += 1
    return count


def rules_of(products: Iterable[Product]) -> dict[str, SizeRule]:
    return {p.product_id: SizeRule(p.base_increment, p.base_min_size) for p in products}
