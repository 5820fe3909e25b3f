"""A loopback HTTP proxy in front of the simulator's REST API that rewrites chosen answers: the body of
a successful answer for a path in ``rewrites`` goes through its function (drop a symbol, add an unknown
filter, garble it...), which returns a JSON-able object or raw bytes. Every other request is forwarded
unchanged, signatures and headers included."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}


class RewritingRestProxy:
    def __init__(self, upstream: str, rewrites: dict[str, Callable[[Any], Any]]) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrites = rewrites
        self.port = 0
        self.rewritten = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name="rest-proxy", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RewritingRestProxy:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with aiohttp.ClientSession() as client:

            async def handle(request: web.Request) -> web.Response:
                headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
                body = await request.read()
                async with client.request(
                    request.method, self.upstream + request.path_qs, headers=headers, data=body or None
                ) as answer:
                    data = await answer.read()
                    out_headers = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
                    rewrite = self.rewrites.get(request.path)
                    if rewrite is not None and answer.status == 200:
                        out = rewrite(json.loads(data))
                        if out is not None:
                            data = out if isinstance(out, bytes) else json.dumps(out).encode()
                            self.rewritten += 1
                    return web.Response(status=answer.status, body=data, headers=out_headers)

            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = runner.addresses[0][1]
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()
