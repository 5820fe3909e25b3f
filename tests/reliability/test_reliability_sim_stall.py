"""The simulator's ``stall`` fault (F5's test tool): market streams go silent for ``ms`` with the
connection kept open, then resume on the same connection; a bad ``ms`` is refused and
``DELETE /sim/fault`` ends a stall early."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from traytrader.sim import SimOptions, start_sim

STREAM = "/market/ws/btcusdt@markPrice@1s"


async def _next_message(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> float | None:
    """Seconds until the next text frame, or None if none came within ``timeout``."""
    started = time.monotonic()
    try:
        msg = await asyncio.wait_for(ws.receive(), timeout)
    except TimeoutError:
        return None
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return time.monotonic() - started


async def test_stall_silences_market_streams_and_keeps_the_connection() -> None:
    sim = await start_sim(SimOptions(seed=7))
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(sim.stream_url + STREAM) as ws:
            assert await _next_message(ws, 3.0) is not None          # @markPrice@1s ticks every second
            async with http.post(sim.control_url + "/fault", json={"kind": "stall", "ms": 2500}) as r:
                assert r.status == 200, await r.text()
            started = time.monotonic()
            while (waited := await _next_message(ws, 5.0)) is not None and time.monotonic() - started < 0.05:
                continue                                              # a frame already in flight
            assert waited is not None and not ws.closed
            assert time.monotonic() - started >= 2.4                  # silent for the stall, then resumes

            async with http.post(sim.control_url + "/fault", json={"kind": "stall", "ms": 60_000}) as r:
                assert r.status == 200
            assert await _next_message(ws, 1.5) is None               # silent...
            async with http.delete(sim.control_url + "/fault") as r:
                assert r.status == 200
            assert await _next_message(ws, 3.0) is not None           # ...until the faults are cleared

            async with http.post(sim.control_url + "/fault", json={"kind": "stall", "ms": -1}) as r:
                assert r.status == 400 and "'ms' must not be negative" in await r.text()
    finally:
        await sim.stop()
