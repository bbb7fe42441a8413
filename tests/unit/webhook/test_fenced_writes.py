"""A process that is not the leader sends no cancel, edit or order through the port (issue #24);
reads still pass, so a standby's caches stay warm."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.enums import Side
from exchange.models import EditRequest, OrderKind, OrderRequest
from tests.unit.market_data.inmemory import StopBook
from webhook.leadership.fence import NotLeader
from webhook.leadership.fenced_exchange import FencedWrites


class Epoch:
    def __init__(self) -> None:
        self.leading = True
        self.checks = 0

    async def ensure_leader(self) -> None:
        self.checks += 1
        if not self.leading:
            raise NotLeader("epoch 1 is not current (2)")


def _stop() -> OrderRequest:
    return OrderRequest(client_order_id="ps-1", product_id="BTC-USD", side=Side.SELL, kind=OrderKind.STOP_LIMIT_GTC,
                        base_size=D("1"), limit_price=D("95"), stop_price=D("96"),
                        stop_direction="STOP_DIRECTION_STOP_DOWN")


async def test_writes_pass_the_epoch_check_and_a_fenced_process_sends_nothing() -> None:
    book, epoch = StopBook(), Epoch()
    port = FencedWrites(book, epoch.ensure_leader)
    placed = await port.create_order(_stop())
    assert placed.success and placed.order_id is not None
    assert (await port.edit_order(EditRequest(placed.order_id, D("1"), D("96"), D("97")))).success
    assert epoch.checks == 2

    epoch.leading = False  # another process took over
    for write in (port.create_order(_stop()), port.edit_order(EditRequest(placed.order_id, D("1"), D("97"), D("98"))),
                  port.cancel_orders([placed.order_id])):
        with pytest.raises(NotLeader):
            await write
    assert book.log == [f"create {_stop().client_order_id}", f"edit {placed.order_id}"]  # nothing more was sent
    assert (await port.get_product("BTC-USD")).product_id == "BTC-USD"  # reads pass straight through
