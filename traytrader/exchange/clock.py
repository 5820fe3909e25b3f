"""The exchange clock: local time plus an offset measured from ``GET /fapi/v1/time``.

The offset is the server time minus the midpoint of the round trip (the request reached the
server, on average, halfway through it). Several samples are taken and the one with the shortest
round trip wins: its midpoint has the smallest error bound (±rtt/2). Refreshed periodically and
after every -1021 (design: "Time").
"""

from __future__ import annotations

import time
from typing import Any, Protocol


class _TimeSource(Protocol):
    async def get(self, path: str, params: Any = None, *, signed: bool = False,
                  keyed: bool = False) -> Any: ...


class Clock:
    """``now_ms()`` is the exchange-aligned time used for request timestamps."""

    def __init__(self) -> None:
        self.offset_ms = 0
        self.rtt_ms: float | None = None
        self.synced_at: float | None = None   # time.monotonic() of the last sync

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    async def sync(self, rest: _TimeSource, samples: int = 3) -> int:
        """Measure the offset (``samples`` round trips, the shortest wins); returns it in ms."""
        best: tuple[float, int] | None = None
        for _ in range(max(1, samples)):
            t0 = time.time()
            start = time.perf_counter()
            body = await rest.get("/fapi/v1/time")
            rtt = time.perf_counter() - start
            server_ms = int(body["serverTime"])
            midpoint_ms = (t0 + rtt / 2) * 1000
            offset = round(server_ms - midpoint_ms)
            if best is None or rtt < best[0]:
                best = (rtt, offset)
        assert best is not None
        self.rtt_ms = best[0] * 1000
        self.offset_ms = best[1]
        self.synced_at = time.monotonic()
        return self.offset_ms
