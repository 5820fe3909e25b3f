"""The ``/sim/`` test-control API: read state, move prices, inject faults, restart.

Contract (docs/sim.md has the JSON examples): ``GET /sim/state``; ``POST /sim/price``
``{"symbol","price"[,"mark"]}`` (sets and pauses that symbol's path); ``POST /sim/resume``
``{"symbol"?}``; ``POST /sim/step`` ``{"symbol","n"}``; ``POST /sim/fault``
``{"kind","method","count","ms"[,"code"]}``; ``DELETE /sim/fault``; ``POST /sim/restart``;
``POST /sim/position_mode`` ``{"apiKey"?, "mode": "hedge"|"one-way"}``; ``POST /sim/balance``
``{"apiKey"?, "balance"}``. Errors answer HTTP 400 ``{"error": "<one sentence>"}``.

Writes (POST, PUT, and a DELETE with a body) must say ``Content-Type: application/json`` or get 415:
a web page cannot send that cross-origin without a preflight (see guard.py for Host and Origin).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from aiohttp import web

from traytrader.sim import views
from traytrader.sim.errors import SimError
from traytrader.sim.faults import INSTANT_KINDS, KINDS, LIMIT_CODES, LIMIT_KINDS, Fault
from traytrader.sim.guard import is_json
from traytrader.sim.payloads import plain

if TYPE_CHECKING:
    from traytrader.sim.server import SimServer


class BadControl(Exception):
    pass


def _ok(body: Any) -> web.Response:
    return web.json_response(body)


def _price(body: dict, name: str) -> Decimal:
    try:
        d = Decimal(str(body[name]))
    except (KeyError, InvalidOperation):
        raise BadControl(f"'{name}' must be a decimal string.") from None
    if not d.is_finite() or d <= 0:
        raise BadControl(f"'{name}' must be positive.")
    return d


def _symbol(server: SimServer, body: dict, required: bool = True) -> str | None:
    sym = body.get("symbol")
    if sym is None and not required:
        return None
    if not isinstance(sym, str) or sym.upper() not in server.market.specs:
        raise BadControl(f"Unknown symbol {sym!r}; use one of {', '.join(server.market.specs)}.")
    return sym.upper()


def _account(server: SimServer, body: dict) -> str:
    key = body.get("apiKey")
    if key is None:
        return next(iter(server.exchange.accounts))
    if key not in server.exchange.accounts:
        raise BadControl("Unknown apiKey.")
    return str(key)


def state(server: SimServer, query: Mapping[str, str] | None = None) -> dict:
    q = query or {}
    since = q.get("since", "0")
    if not since.isdigit():
        raise BadControl("'since' must be a time in milliseconds.")
    doc = views.state(
        server.exchange, q.get("apiKey"), int(since), q.get("orders", "1") not in ("0", "false")
    )
    doc.update(
        {
            "serverTime": server.now_ms(),
            "clockSkewMs": server.clock_skew_ms,
            "paused": {s: p.paused for s, p in server.paths.items()},
            "faults": server.faults.describe(),
            "limits": server.limiter.describe(server.now_ms()),
            "listenKeys": len(server.exchange.listen_keys),
            "connections": len(server.sockets),
        }
    )
    return doc


async def handle_control(server: SimServer, request: web.Request) -> web.StreamResponse:
    route = (request.method, request.path.rstrip("/"))
    writes = request.method not in ("GET", "HEAD", "OPTIONS")
    if writes and (request.method != "DELETE" or request.can_read_body) and not is_json(
        request.headers.get("Content-Type", "")
    ):
        msg = "The control API takes JSON: send the body with Content-Type: application/json."
        return web.json_response({"error": msg}, status=415)
    try:
        body: dict = {}
        if request.method in ("POST", "PUT") and request.can_read_body:
            raw = await request.text()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except (ValueError, RecursionError):
                    raise BadControl("The body is not valid JSON (or is nested too deeply).") from None
                if not isinstance(body, dict):
                    raise BadControl("The body must be a JSON object.")
        return await _route(server, request, route, body)
    except BadControl as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except SimError as exc:
        return web.json_response({"error": exc.msg, "code": exc.code}, status=400)


async def _route(
    server: SimServer, request: web.Request, route: tuple[str, str], body: dict
) -> web.StreamResponse:
    now = server.now_ms()
    match route:
        case ("GET", "/sim/state"):
            return _ok(state(server, request.query))
        case ("POST", "/sim/price"):
            sym = _symbol(server, body)
            assert sym is not None
            last = server.paths[sym].set(_price(body, "price"))
            mark = _price(body, "mark") if "mark" in body else None
            server.apply_price(sym, last, now, mark)
            q = server.exchange.quotes[sym]
            return _ok(
                {
                    "symbol": sym,
                    "last": plain(q.last),
                    "mark": plain(q.mark),
                    "bid": plain(q.bid),
                    "ask": plain(q.ask),
                    "paused": True,
                }
            )
        case ("POST", "/sim/resume"):
            sym = _symbol(server, body, required=False)
            for s, path in server.paths.items():
                if sym is None or s == sym:
                    path.resume(now)
            return _ok({"paused": {s: p.paused for s, p in server.paths.items()}})
        case ("POST", "/sim/step"):
            sym = _symbol(server, body)
            assert sym is not None
            n = body.get("n", 1)
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 100_000:
                raise BadControl("'n' must be an integer from 0 to 100000.")
            path = server.paths[sym]
            path.paused = True
            for _ in range(n):
                server.apply_price(sym, path.step(1), server.now_ms())
            return _ok({"symbol": sym, "last": plain(server.exchange.quotes[sym].last)})
        case ("POST", "/sim/fault"):
            return _ok(await _fault(server, request, body))
        case ("DELETE", "/sim/fault"):
            server.faults.clear()
            server.limiter.lift()
            server.clock_skew_ms = 0
            server.market_hub.stall(0)
            return _ok({"faults": []})
        case ("POST", "/sim/restart"):
            await server.close_all(1012, except_transport=request.transport)
            return _ok({"restarted": True})
        case ("POST", "/sim/position_mode"):
            key = _account(server, body)
            mode = body.get("mode")
            if mode not in ("hedge", "one-way"):
                raise BadControl("'mode' must be 'hedge' or 'one-way'.")
            acct = server.exchange.accounts[key]
            if acct.hedge != (mode == "hedge"):
                server.exchange.set_position_mode(key, {"dualSidePosition": str(mode == "hedge").lower()})
            return _ok({"apiKey": key, "mode": mode})
        case ("POST", "/sim/balance"):
            key = _account(server, body)
            server.exchange.accounts[key].wallet = _price(body, "balance")
            return _ok({"apiKey": key, "walletBalance": plain(server.exchange.accounts[key].wallet)})
    raise BadControl(f"Unknown control route {route[0]} {route[1]}.")


async def _fault(server: SimServer, request: web.Request, body: dict) -> dict:
    kind = body.get("kind")
    if kind not in KINDS:
        raise BadControl(f"Unknown fault kind {kind!r}; use one of {', '.join(KINDS)}.")
    method = body.get("method", "*")
    count, ms = body.get("count", 1), body.get("ms", 0)
    if not isinstance(method, str) or not method:
        raise BadControl("'method' must be a method name such as 'order.place', or '*'.")
    for name, v in (("count", count), ("ms", ms)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise BadControl(f"'{name}' must be an integer.")
    if count < 1:
        raise BadControl("'count' must be at least 1.")
    if kind in INSTANT_KINDS:
        if kind == "clock_skew":
            server.clock_skew_ms = ms
        elif kind == "expire_listen_key":
            server.flush()
            return {"kind": kind, "expired": len(server.expire_listen_keys_now())}
        elif kind == "close_all":
            await server.close_all(1012, except_transport=request.transport)
        elif kind == "stall":
            if ms < 0:
                raise BadControl("'ms' must not be negative.")
            server.market_hub.stall(ms)
        return {"kind": kind, "ms": ms}
    if kind in ("delay", *LIMIT_KINDS) and ms < 0:
        raise BadControl("'ms' must not be negative.")
    code = body.get("code", -1003)
    if kind == "rate_limit_429" and (type(code) is not int or code not in LIMIT_CODES):
        raise BadControl("'code' must be -1003 (request weight) or -1015 (orders).")
    server.faults.add(Fault(kind, method, count, ms, code if kind == "rate_limit_429" else -1003))
    return {"faults": server.faults.describe()}
