"""Small helpers shared by the exchange integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from core.metrics import REGISTRY


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll state owned by other tasks (sockets, threads); fails the test after `timeout`."""

    async def poll() -> None:
        while not predicate():  # noqa: ASYNC110 - polling state owned by another task
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)
