"""Market and user-data stream fan-out: ordered per-connection outlets and subscription tables.

Stream names and URL groups follow the 2026 split (Important-WebSocket-Change-Notice): ``/public``
serves ``<symbol>@bookTicker``, ``!bookTicker`` and depth (``@depth<5|10|20>[@100ms|@500ms]``,
``@depth[@100ms|@500ms]``); ``/market`` serves ``@markPrice``, ``@markPrice@1s``, ``@aggTrade``,
``@trade`` (undocumented, live), ``@kline_<interval>``, ``@ticker``, ``@miniTicker``,
``!ticker@arr``, ``!miniTicker@arr`` and ``!markPrice@arr[@1s]`` (feeds.py builds the new
ones); the legacy ``/ws`` and ``/stream`` URLs serve the public group only ("any connections not
migrated will ONLY be able to receive data from /public"). A stream subscribed on the wrong URL
is accepted and stays silent, as on Binance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable

from aiohttp import web

from traytrader.sim.latency import DueClock, Latency, wait_until

log = logging.getLogger("traytrader.sim.streams")

PUBLIC_KINDS = frozenset({"bookTicker"}) | frozenset(
    f"depth{n}{speed}" for n in ("", "5", "10", "20") for speed in ("", "@100ms", "@500ms")
)
KLINE_INTERVALS = (
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"
)
MARKET_KINDS = frozenset(
    {"markPrice", "markPrice@1s", "aggTrade", "trade", "ticker", "miniTicker"}
) | frozenset(f"kline_{i}" for i in KLINE_INTERVALS)
PUBLIC_ALL = frozenset({"!bookTicker"})
MARKET_ALL = frozenset({"!markPrice@arr", "!markPrice@arr@1s", "!ticker@arr", "!miniTicker@arr"})
MAX_STREAMS = 1024
OUTLET_QUEUE = 10_000


def dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"))


class Outlet:
    """One WebSocket's outgoing messages, written in order by a single task; never blocks a sender."""

    def __init__(
        self, ws: web.WebSocketResponse, latency: Latency | None = None, transport: object = None
    ) -> None:
        self.ws = ws
        self.transport = transport  # for ``abort`` (a stream that drops without a close frame)
        self._clock = DueClock(latency)
        self._queue: asyncio.Queue[tuple[float, str | None]] = asyncio.Queue(OUTLET_QUEUE)
        self._task = asyncio.get_running_loop().create_task(self._run())

    def send(self, text: str) -> None:
        try:
            self._queue.put_nowait((self._clock.due(), text))
        except asyncio.QueueFull:  # a consumer this slow is disconnected, as Binance does
            log.warning("stream consumer too slow; closing it")
            self.stop()

    def stop(self) -> None:
        """Close after the frames already queued (each at its due time)."""
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait((self._clock.due(), None))

    def abort(self) -> None:
        """Drop the TCP connection now, with no close frame (the ``drop_user_stream`` fault)."""
        abort = getattr(self.transport, "abort", None)
        if abort is not None:
            abort()
        self._task.cancel()

    async def _run(self) -> None:
        try:
            while True:
                due, text = await self._queue.get()
                await wait_until(due)
                if text is None or self.ws.closed:
                    break
                await self.ws.send_str(text)
                self._queue.task_done()
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            if not self.ws.closed:
                with contextlib.suppress(Exception):
                    await self.ws.close()

    async def drained(self, timeout_s: float = 1.0) -> None:
        """Wait (at most ``timeout_s``) until every frame queued so far has been written."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout_s)

    async def drain_and_close(self, code: int = 1000) -> None:
        self.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 2)
        with contextlib.suppress(Exception):
            await self.ws.close(code=code)


def served(group: str, name: str) -> bool:
    """Whether a connection on URL group ``group`` ('public', 'market', 'private', 'legacy') gets ``name``."""
    if group == "private":
        return False
    if name.startswith("!"):
        allowed = MARKET_ALL if group == "market" else PUBLIC_ALL
        return name in allowed
    kind = name.split("@", 1)[1] if "@" in name else ""
    return kind in (MARKET_KINDS if group == "market" else PUBLIC_KINDS)


class MarketConn:
    """One stream connection: its URL group, frame form, market streams and listenKeys."""

    def __init__(self, outlet: Outlet, group: str, combined: bool) -> None:
        self.outlet = outlet
        self.group = group
        self.combined = combined
        self.names: list[str] = []
        self.user_keys: list[str] = []


class MarketHub:
    """Who listens to which market stream; ``publish`` formats once per form and enqueues."""

    def __init__(self) -> None:
        self.subs: dict[str, set[MarketConn]] = {}
        # ``stall`` fault: until this monotonic time nothing is published (connections stay open).
        self.stalled_until = 0.0

    def stall(self, ms: int) -> None:
        self.stalled_until = time.monotonic() + ms / 1000 if ms > 0 else 0.0

    def subscribe(self, conn: MarketConn, names: Iterable[str]) -> None:
        for raw in names:
            name = normalize(raw)
            if name in conn.names or len(conn.names) >= MAX_STREAMS:
                continue
            conn.names.append(name)
            if served(conn.group, name):
                self.subs.setdefault(name, set()).add(conn)

    def unsubscribe(self, conn: MarketConn, names: Iterable[str]) -> None:
        for raw in names:
            name = normalize(raw)
            if name in conn.names:
                conn.names.remove(name)
            self.subs.get(name, set()).discard(conn)

    def drop(self, conn: MarketConn) -> None:
        self.unsubscribe(conn, list(conn.names))

    def wanted(self, name: str) -> bool:
        return bool(self.subs.get(name))

    def publish(self, name: str, payload: object) -> None:
        conns = self.subs.get(name)
        if not conns or (self.stalled_until and time.monotonic() < self.stalled_until):
            return
        raw = combined = None
        for c in list(conns):
            if c.combined:
                combined = combined or dumps({"stream": name, "data": payload})
                c.outlet.send(combined)
            else:
                raw = raw or dumps(payload)
                c.outlet.send(raw)


def normalize(name: str) -> str:
    """Symbols are lower-case in stream names; the event part keeps its case (``@bookTicker``)."""
    if name.startswith("!") or "@" not in name:
        return name
    sym, rest = name.split("@", 1)
    return f"{sym.lower()}@{rest}"


class UserHub:
    """listenKey -> the user-data connections reading it (and whether each wants combined frames)."""

    def __init__(self) -> None:
        self.conns: dict[str, dict[Outlet, bool]] = {}

    def add(self, key: str, outlet: Outlet, combined: bool = False) -> None:
        self.conns.setdefault(key, {})[outlet] = combined

    def remove(self, key: str, outlet: Outlet) -> None:
        s = self.conns.get(key)
        if s is not None:
            s.pop(outlet, None)
            if not s:
                del self.conns[key]

    async def drained(self) -> None:
        """Wait until every user-data frame queued so far is on the wire (``reply_order`` "after")."""
        outlets = {o for conns in self.conns.values() for o in conns}
        if outlets:
            await asyncio.gather(*(o.drained() for o in outlets))

    def send(self, keys: Iterable[str], payload: object) -> None:
        for k in keys:
            raw = wrapped = None
            for o, combined in list(self.conns.get(k, {}).items()):
                if combined:  # combined streams wrap user data under the listenKey as stream name
                    wrapped = wrapped or dumps({"stream": k, "data": payload})
                    o.send(wrapped)
                else:
                    raw = raw or dumps(payload)
                    o.send(raw)
