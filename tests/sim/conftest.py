"""Fixtures for simulator tests: a running simulator with frozen prices and signed clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from simkit import BTC_PRICE, Rest, WsApi

from traytrader.sim import Sim, SimOptions, start_sim


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    s = await start_sim(SimOptions(seed=7))
    for sym, path in s.server.paths.items():  # freeze prices so every test is deterministic
        price = BTC_PRICE if sym == "BTCUSDT" else path.price
        s.server.apply_price(sym, path.set(price), s.server.now_ms())
    yield s
    await s.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def api(sim: Sim, http: aiohttp.ClientSession) -> AsyncIterator[WsApi]:
    async with http.ws_connect(sim.ws_api_url) as ws:
        yield WsApi(ws)


@pytest.fixture
def rest(sim: Sim, http: aiohttp.ClientSession) -> Rest:
    return Rest(http, sim.rest_url)
