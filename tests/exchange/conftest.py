"""Fixtures for exchange-layer tests: the simulator in-process on this test's loop, on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    from traytrader.sim import SimOptions, start_sim

    server = await start_sim(SimOptions(port=0, seed=1))
    try:
        yield server
    finally:
        await server.stop()
