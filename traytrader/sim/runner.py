"""Starting and stopping the simulator: in-process (``start_sim``), in a thread (``SimThread``), or as
the ``traytrader sim`` command (``run_sim``)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future

from traytrader.sim.exchange import Exchange
from traytrader.sim.server import SimOptions, SimServer


class Sim:
    """A running simulator in the current event loop. URLs are final once ``start_sim`` returns."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        host = server.options.host
        host = f"[{host}]" if ":" in host else host
        self.port = server.port
        self.rest_url = f"http://{host}:{server.port}"
        self.ws_api_url = f"ws://{host}:{server.port}/ws-fapi/v1"
        self.stream_url = f"ws://{host}:{server.port}"
        self.control_url = f"{self.rest_url}/sim"

    @property
    def exchange(self) -> Exchange:
        return self.server.exchange

    async def restart(self) -> None:
        """Drop every connection; keep all state (the same as ``POST /sim/restart``)."""
        await self.server.close_all(1012)

    async def stop(self) -> None:
        await self.server.stop()


async def start_sim(options: SimOptions | None = None) -> Sim:
    """Start a simulator in the running loop; raise ConfigError for a bad accounts or prices file."""
    server = SimServer(options or SimOptions())
    await server.start()
    return Sim(server)


class SimThread:
    """A simulator on its own thread and event loop, for synchronous callers (demo, desktop tests).

    ``SimThread(options).start()`` returns self once the port is bound; the URL attributes of
    :class:`Sim` are then available here too. ``call(fn)`` runs ``fn(sim)`` on the simulator's loop.
    """

    def __init__(self, options: SimOptions | None = None) -> None:
        self.options = options or SimOptions()
        self.sim: Sim | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready: Future[Sim] = Future()
        self._stop: asyncio.Event | None = None

    def start(self, timeout: float = 10.0) -> SimThread:
        self._thread = threading.Thread(target=self._main, name="traytrader-sim", daemon=True)
        self._thread.start()
        self.sim = self._ready.result(timeout)
        return self

    def _main(self) -> None:
        asyncio.run(self._amain())

    async def _amain(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            sim = await start_sim(self.options)
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(sim)
        await self._stop.wait()
        await sim.stop()

    def __getattr__(self, name: str) -> object:
        if name in ("rest_url", "ws_api_url", "stream_url", "control_url", "port", "exchange", "server"):
            if self.sim is None:
                raise RuntimeError("SimThread is not started")
            return getattr(self.sim, name)
        raise AttributeError(name)

    def call(self, fn: Callable[[Sim], object], timeout: float = 10.0) -> object:
        """Run ``fn(sim)`` on the simulator's loop (a coroutine result is awaited) and return its value."""
        assert self._loop is not None and self.sim is not None
        sim = self.sim

        async def run() -> object:
            out = fn(sim)
            if asyncio.iscoroutine(out):
                out = await out
            return out

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> SimThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def run_sim(options: SimOptions, announce: Callable[[Sim], None] | None = None) -> None:
    """Serve until cancelled (Ctrl+C); ``announce(sim)`` is called once the URLs are known."""
    sim = await start_sim(options)
    try:
        if announce is not None:
            announce(sim)
        await asyncio.Event().wait()
    finally:
        await sim.stop()
