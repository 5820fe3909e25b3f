"""Who may talk to the simulator, and for how long a connection may take to say what it wants.

The simulator listens on loopback, but a web page the user opens can still reach loopback: a blind
cross-origin ``POST`` with ``Content-Type: text/plain`` needs no CORS preflight, and DNS rebinding
lets a foreign page *read* answers (``/sim/state`` names the API keys) under a name it controls. So:

* every request's ``Host`` must name a loopback address (``127.0.0.1``, ``localhost``, ``[::1]``), or
  the address the user bound explicitly with ``--host``; the ``/sim/`` control API answers to loopback
  names only, whatever ``--host`` says;
* a request carrying an ``Origin`` (browsers add it to cross-origin requests and to every WebSocket
  upgrade) must come from the simulator's own origin; no page is served here, so any other is foreign;
* ``/sim/`` writes must be ``Content-Type: application/json`` (a browser cannot send that cross-origin
  without a preflight, which is never granted: no CORS headers are ever sent).

The header deadline: a connection that has not completed its first request's headers within
``header_timeout_s`` is closed, so slow-header connections cannot pile up (aiohttp has no such limit).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

LOOPBACK_NAMES = frozenset({"localhost", "localhost."})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def is_loopback(host: str) -> bool:
    """``host`` (no port, brackets allowed) is a loopback name or address."""
    name = host.strip().lower().strip("[]")
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None]:
    """``Host``-header text -> (host, port); ``("", None)`` when it cannot be parsed."""
    try:
        parts = urlsplit("//" + value.strip())
        return (parts.hostname or "", parts.port)
    except ValueError:
        return ("", None)


def host_allowed(header: str | None, bind_host: str, control: bool) -> bool:
    """Whether a request whose ``Host`` header is ``header`` may be served."""
    if not header:
        return False
    host, _ = split_host(header)
    if is_loopback(host):
        return True
    if control or not host:
        return False
    bind = bind_host.strip("[]").lower()
    return bind in WILDCARD_HOSTS or host == bind


def origin_allowed(origin: str | None, host_header: str | None) -> bool:
    """A missing ``Origin`` is a non-browser client; otherwise it must be our own origin exactly."""
    if origin is None:
        return True
    if not host_header:
        return False
    try:
        o = urlsplit(origin.strip())
        o_port = o.port
    except ValueError:
        return False
    host, port = split_host(host_header)
    if o.scheme not in ("http", "https", "ws", "wss") or not o.hostname:
        return False
    default = 443 if o.scheme in ("https", "wss") else 80
    return o.hostname == host and (o_port or default) == (port or default)


def exposure_warning(bind_host: str) -> str | None:
    """The warning ``traytrader sim --host`` prints when other machines could reach the simulator."""
    if is_loopback(bind_host):
        return None
    return (
        f"The simulator is listening on {bind_host or 'every address'}, which is not loopback: other "
        "machines can reach its REST, WebSocket API and streams, and its demo keys are public. "
        "Use --host 127.0.0.1 unless you mean it (the /sim/ control API still answers to loopback only)."
    )


def is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


class _DeadlineHandler(RequestHandler):
    """aiohttp's request handler plus one timer: no complete request within the deadline -> closed."""

    header_timeout_s = 10.0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._deadline = self._loop.call_later(self.header_timeout_s, self._header_deadline)

    def _header_deadline(self) -> None:
        # ``_request_count`` is aiohttp's count of requests whose headers it has parsed on this
        # connection (private; test_sim_guard.py's slow-header test fails if aiohttp drops it).
        if getattr(self, "_request_count", 1) == 0:
            self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._deadline.cancel()
        super().connection_lost(exc)


class _DeadlineServer(web.Server):
    header_timeout_s = 10.0

    def __call__(self) -> RequestHandler:
        handler = _DeadlineHandler(self, loop=self._loop, **self._kwargs)
        handler.header_timeout_s = self.header_timeout_s  # read in connection_made, which comes later
        return handler


class GuardedRunner(web.AppRunner):
    """An ``AppRunner`` whose connections must send complete headers within ``header_timeout_s``."""

    def __init__(self, app: web.Application, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout_s = header_timeout_s

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp builds its web.Server here with no hook for the handler class; _DeadlineServer adds
        # no state of its own, only the factory method, so re-classing the instance is safe.
        server.__class__ = _DeadlineServer
        server.header_timeout_s = self._header_timeout_s  # type: ignore[attr-defined]
        return server
