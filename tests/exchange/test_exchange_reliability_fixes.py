"""Exchange-layer fixes from the reliability findings: a request whose waiter is gone when the
connection closes leaves no "Future exception was never retrieved" noise (F11); a stream that must
tick and goes silent is dropped and reconnected (F5)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from traytrader.core.frames import FrameBuilder
from traytrader.exchange.clock import Clock
from traytrader.exchange.streams import StreamConnection
from traytrader.exchange.ws_api import WsApi, _Pending


async def test_abandoned_request_on_close_logs_no_unretrieved_exception(sim: Any) -> None:
    from traytrader.core.models import ApiCredentials, KeyType
    from traytrader.sim import DEMO_API_KEY, DEMO_SECRET

    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        credentials = ApiCredentials("demo", KeyType.HMAC, DEMO_API_KEY, DEMO_SECRET)
        ws = WsApi(sim.ws_api_url, FrameBuilder(credentials, 5000), now_ms=Clock().now_ms, timeout_s=1)
        await ws.open()
        # A request whose sender gave up while its frame was being written (nobody awaits it).
        ws._pending["77"] = _Pending(loop.create_future(), "order.place")
        await ws.close()
        ws._pending.pop("77")              # the sender's ``finally`` forgets it: nobody holds it now
        gc.collect()
        await asyncio.sleep(0)
        assert not [c for c in seen if "never retrieved" in str(c.get("message", ""))], seen
    finally:
        loop.set_exception_handler(None)


async def test_silent_stream_is_reconnected(sim: Any) -> None:
    """The bookTicker stream of a paused symbol may be silent: with ``stall_after_s`` the
    connection is dropped and made again, and ``on_stalled`` is told."""
    stalled: list[int] = []
    url = f"{sim.stream_url}/public/stream?streams=nosuchsymbol@bookTicker"   # never ticks
    stream = StreamConnection("quiet", url, lambda message: None, stall_after_s=0.2,
                              on_stalled=lambda: stalled.append(1))
    stream.start()
    try:
        async with asyncio.timeout(5):
            while stream.reconnects < 1:
                await asyncio.sleep(0.02)
        assert stalled and stream.stalls >= 1
    finally:
        await stream.stop()
