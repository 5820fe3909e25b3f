"""A loopback TCP proxy in front of the simulator for faults the simulator does not make itself.

* ``stall(True)``: connections whose HTTP request line is a market stream (``/market``, ``/public``,
  ``/stream``, ``/ws/<symbol>@...``) stop moving bytes in both directions while the TCP connection
  stays up: a market-stream stall as a client sees it (no close, no error, just silence).
* ``refuse(True)``: every open connection is cut and new ones are closed at once: the exchange is
  unreachable (used to show that a keypress while disconnected is refused and never sent later).

It forwards bytes unchanged, so the engine and the simulator still speak their real protocols.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

_MARKET_MARKERS = (b"/market", b"/public", b"/stream?", b"@bookticker", b"@markprice", b"@aggtrade")


class FaultProxy:
    """``FaultProxy(upstream_port).start()``; ``.port`` is where clients connect."""

    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.upstream_port = upstream_port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._flowing: asyncio.Event | None = None
        self._refusing = False
        self._writers: set[asyncio.StreamWriter] = set()
        self.market_connections = 0

    # -- control (any thread) ---------------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._main, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def stall(self, on: bool) -> None:
        def apply() -> None:
            assert self._flowing is not None
            if on:
                self._flowing.clear()
            else:
                self._flowing.set()

        self._call(apply)

    def refuse(self, on: bool) -> None:
        def apply() -> None:
            self._refusing = on
            if on:
                for writer in list(self._writers):
                    writer.transport.abort()

        self._call(apply)

    def url(self, scheme: str, path: str = "") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def _call(self, fn: object) -> None:
        loop = self._loop
        assert loop is not None and callable(fn)
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        loop.call_soon_threadsafe(run)
        done.wait(5)

    # -- the proxy loop ---------------------------------------------------------------------------
    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = loop.run_until_complete(asyncio.start_server(self._client, self.host, 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.transport.abort()
            return
        self._writers.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            first = await reader.read(65536)
            if not first:
                return
            request_line = first.split(b"\r\n", 1)[0].lower()
            market = any(marker in request_line for marker in _MARKET_MARKERS)
            self.market_connections += market
            up_reader, upstream_writer = await asyncio.open_connection(self.host, self.upstream_port)
            self._writers.add(upstream_writer)
            upstream_writer.write(first)
            await asyncio.gather(
                self._pump(reader, upstream_writer, market), self._pump(up_reader, writer, market)
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, market: bool) -> None:
        assert self._flowing is not None
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if market and not self._flowing.is_set():
                    await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            writer.transport.abort()
