"""Market and user-data streams, each one websockets connection that reconnects by itself.

URLs (protocol notes §8, the 2026 split): book ticker under ``/public``, mark price under
``/market``, user data under ``/private/ws/<listenKey>``. Combined streams wrap each payload as
``{"stream": ..., "data": ...}``; we unwrap. The user stream's listenKey is valid 60 minutes and
extended by a keepalive (we ping every 30 minutes by default); ``listenKeyExpired`` or a closed
connection makes the stream fetch a key again (``userDataStream.start`` returns the active key or a
new one) and reconnect. Every (re)connection calls ``on_connected`` so the engine can resync what
it may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from traytrader.core.errors import TraytraderError
from traytrader.core.retry import backoff

log = logging.getLogger(__name__)

MessageCallback = Callable[[dict[str, Any]], None]
# A listenKey request that failed or went unanswered (``TraytraderError``) is as passing as a
# refused connection: retried with backoff, said in one log line, never a traceback.
_CONNECT_ERRORS = (OSError, InvalidHandshake, InvalidURI, TimeoutError, ConnectionClosed, TraytraderError)


def market_stream_urls(stream_url: str, symbols: Iterable[str]) -> list[str]:
    """Combined-stream URLs: mark price (1 s) under /market, book ticker under /public."""
    names = sorted({s.lower() for s in symbols})
    base = stream_url.rstrip("/")
    urls = []
    if names:
        urls.append(f"{base}/market/stream?streams=" + "/".join(f"{n}@markPrice@1s" for n in names))
        urls.append(f"{base}/public/stream?streams=" + "/".join(f"{n}@bookTicker" for n in names))
    return urls


class StreamConnection:
    """One reconnecting stream. ``url`` may be a callable returning the URL (listenKey changes)."""

    def __init__(
        self,
        name: str,
        url: str | Callable[[], Awaitable[str]],
        on_message: MessageCallback,
        *,
        on_connected: Callable[[], None] | None = None,
        on_disconnected: Callable[[BaseException | None], None] | None = None,
        rng: random.Random | None = None,
        stall_after_s: float | None = None,
        on_stalled: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        # A stream that must tick (``@markPrice@1s``) and is silent this long has stalled (the
        # TCP connection may stay up for minutes): drop it and connect again (F5).
        self.stall_after_s = stall_after_s
        self.on_stalled = on_stalled
        self.last_message = time.monotonic()
        self.stalls = 0
        self._url = url
        self.on_message = on_message
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self._rng = rng
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"stream-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)

    async def reconnect(self) -> None:
        """Drop the current connection; the run loop connects again at once."""
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()

    async def _resolve_url(self) -> str:
        return self._url if isinstance(self._url, str) else await self._url()

    async def _run(self) -> None:
        delays = backoff(rng=self._rng)
        first = True
        while True:
            error: BaseException | None = None
            try:
                url = await self._resolve_url()
                async with connect(url, compression=None, open_timeout=10, ping_interval=30,
                                   ping_timeout=30, max_size=2**22) as ws:
                    self._ws = ws
                    self.connected.set()
                    if not first:
                        self.reconnects += 1
                    first = False
                    delays = backoff(rng=self._rng)
                    if self.on_connected is not None:
                        self.on_connected()
                    self.last_message = time.monotonic()
                    watchdog = asyncio.get_running_loop().create_task(self._watch(ws)) \
                        if self.stall_after_s else None
                    try:
                        async for raw in ws:
                            self.last_message = time.monotonic()
                            self._deliver(raw)
                    finally:
                        if watchdog is not None:
                            watchdog.cancel()
            except asyncio.CancelledError:
                raise
            except _CONNECT_ERRORS as exc:
                log.info("stream %s: %s; reconnecting", self.name, exc or exc.__class__.__name__)
                error = exc
            except Exception as exc:
                log.exception("stream %s failed", self.name)
                error = exc
            self._ws = None
            self.connected.clear()
            if self.on_disconnected is not None:
                self.on_disconnected(error)
            await asyncio.sleep(next(delays))

    async def _watch(self, ws: ClientConnection) -> None:
        """Abort ``ws`` when no message came for ``stall_after_s`` (a close handshake would wait
        on the stalled peer)."""
        limit = self.stall_after_s or 0.0
        while True:
            await asyncio.sleep(limit / 4)
            silent = time.monotonic() - self.last_message
            if silent >= limit:
                self.stalls += 1
                log.warning("stream %s: no message for %.1f s; reconnecting", self.name, silent)
                if self.on_stalled is not None:
                    self.on_stalled()
                transport = getattr(ws, "transport", None)
                if transport is not None:
                    transport.abort()
                else:
                    await ws.close()
                return

    def _deliver(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except (ValueError, RecursionError):  # garbage, or nesting deep enough to blow the stack
            return
        if isinstance(message, dict) and "stream" in message and isinstance(message.get("data"), dict):
            message = message["data"]
        if isinstance(message, dict):
            try:
                self.on_message(message)
            except Exception:  # a handler's failure on one message must not drop the connection
                log.exception("stream %s: handling a message failed", self.name)


class UserStream:
    """The user-data stream: listenKey lifecycle plus a ``StreamConnection`` to ``/private``."""

    def __init__(
        self,
        stream_url: str,
        start_key: Callable[[], Awaitable[str]],
        ping_key: Callable[[str], Awaitable[Any]],
        on_message: MessageCallback,
        *,
        keepalive_s: float = 30 * 60,
        on_connected: Callable[[], None] | None = None,
        on_disconnected: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        self.stream_url = stream_url.rstrip("/")
        self._start_key = start_key
        self._ping_key = ping_key
        self._user_callback = on_message
        self.keepalive_s = keepalive_s
        self.listen_key: str | None = None
        self.keys_created = 0
        self._on_disconnected_cb = on_disconnected
        self.connection = StreamConnection("user", self._url, self._on_message, on_connected=on_connected,
                                           on_disconnected=self._on_disconnected)
        self._keepalive: asyncio.Task[None] | None = None
        self._chores: set[asyncio.Task[None]] = set()   # keeps fire-and-forget tasks referenced

    async def _url(self) -> str:
        if self.listen_key is None:
            self.listen_key = await self._start_key()
            self.keys_created += 1
        return f"{self.stream_url}/private/ws/{self.listen_key}"

    def _on_disconnected(self, error: BaseException | None) -> None:
        """A refused handshake means the listenKey is no longer valid: it expired while the stream
        was down, so its ``listenKeyExpired`` never arrived. Drop it: the next attempt makes a new
        one (else every reconnect would be refused until the keepalive noticed, minutes later)."""
        if isinstance(error, InvalidStatus):
            self.listen_key = None
        if self._on_disconnected_cb is not None:
            self._on_disconnected_cb(error)

    def start(self) -> None:
        self.connection.start()
        loop = asyncio.get_running_loop()
        self._keepalive = loop.create_task(self._keep_alive(), name="listenkey-keepalive")

    async def stop(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keepalive
        await self.connection.stop()

    def _on_message(self, message: dict[str, Any]) -> None:
        expired = message.get("listenKey", self.listen_key)
        if message.get("e") == "listenKeyExpired" and expired == self.listen_key:
            # Recreate: drop the key so the reconnect asks for a new one (user-data-streams.md).
            self.listen_key = None
            task = asyncio.get_running_loop().create_task(self.connection.reconnect())
            self._chores.add(task)
            task.add_done_callback(self._chores.discard)
        self._user_callback(message)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s)
            key = self.listen_key
            if key is None:
                continue
            try:
                await self._ping_key(key)
            except Exception as exc:  # -1125: the key is gone; make a new one on reconnect
                log.info("listenKey keepalive failed (%s); re-creating it", exc)
                self.listen_key = None
                await self.connection.reconnect()
