"""The ``/sim/`` test-control API: read state, move prices, inject faults, restart.

Contract (docs/sim.md has the JSON examples): ``GET /sim/state``; ``POST /sim/price``
``{"symbol","price"[,"mark"]}`` (sets and pauses that symbol's path); ``POST /sim/resume``
``{"symbol"?}``; ``POST /sim/step`` ``{"symbol","n"}``; ``POST /sim/fault``
``{"kind","method","count","ms"[,"code"]}``; ``DELETE /sim/fault``; ``POST /sim/restart``;
``POST /sim/position_mode`` ``{"apiKey"?, "mode": "hedge"|"one-way"}``; ``POST /sim/balance``
``{"apiKey"?, "balance"}``; ``POST /sim/latency`` ``{"ms","jitter"?}``; ``POST /sim/funding``
``{"symbol"?, "rate"?}``; ``POST /sim/market`` ``{"basisBps"?, "liquidation"?, "marketTrades"?,
"funding"?}``; ``POST /sim/event_order`` ``{"events"?, "reply"?}``. Errors answer HTTP 400
``{"error": "<one sentence>"}``.

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
from traytrader.sim.drift import BadDrift
from traytrader.sim.drift import control as drift_control
from traytrader.sim.errors import SimError
from traytrader.sim.event_order import EVENT_ORDER_MODES, REPLY_ORDER_MODES
from traytrader.sim.faults import INSTANT_KINDS, KINDS, LIMIT_CODES, LIMIT_KINDS, STATUS_UNKNOWN, Fault
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
            "latency": server.latency.describe(),
            "market": {
                "book": server.options.book,
                "eventOrder": server.exchange.event_order.events,
                "replyOrder": server.exchange.event_order.reply,
                "basisBps": server.exchange.basis_bps,
                "liquidation": server.exchange.liquidation,
                "marketTrades": server.options.market_trades,
                "funding": bool(server.exchange.next_funding_ms),
            },
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
    except (BadControl, BadDrift) as exc:
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
        case (verb, "/sim/drift"):
            return _ok(drift_control(server.drift, verb, body))
        case ("POST", "/sim/funding"):
            return _ok(_funding(server, body))
        case ("POST", "/sim/market"):
            return _ok(_market(server, body))
        case ("POST", "/sim/event_order"):
            return _ok(_event_order(server, body))
        case ("POST", "/sim/latency"):
            return _ok(_latency(server, body))
    raise BadControl(f"Unknown control route {route[0]} {route[1]}.")


def _latency(server: SimServer, body: dict) -> dict:
    """``{"ms": 150, "jitter": 50}``: every later reply, answer and stream frame leaves that late."""
    vals = []
    for name in ("ms", "jitter"):
        v = body.get(name, 0)
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 60_000:
            raise BadControl(f"'{name}' must be a number of milliseconds from 0 to 60000.")
        vals.append(float(v))
    server.latency.set(vals[0], vals[1])
    return server.latency.describe()


def _algo_fault(server: SimServer, kind: str, count: int, ms: int, body: dict) -> dict:
    """Arm the next ``count`` algo triggers to be rejected or held in TRIGGERING for ``ms``; or
    expire open algo orders now (one by ``algoId``, else all)."""
    ex = server.exchange
    if kind == "algo_reject":
        ex.reject_triggers = count
        return {"kind": kind, "count": count}
    if kind == "algo_hold":
        if ms < 1:
            raise BadControl("'ms' must be at least 1.")
        ex.hold_triggers = (count, ms)
        return {"kind": kind, "count": count, "ms": ms}
    algo_id = body.get("algoId")
    if algo_id is not None and (not isinstance(algo_id, int) or isinstance(algo_id, bool)):
        raise BadControl("'algoId' must be an integer.")
    n = ex.expire_algos(server.now_ms(), algo_id)
    server.flush()
    return {"kind": kind, "expired": n}


def _market(server: SimServer, body: dict) -> dict:
    """``{"basisBps"?, "liquidation"?, "marketTrades"?, "funding"?}``: turn market events on or off."""
    ex = server.exchange
    for name in ("liquidation", "marketTrades", "funding"):
        if name in body and not isinstance(body[name], bool):
            raise BadControl(f"'{name}' must be true or false.")
    if "basisBps" in body:
        bps = body["basisBps"]
        if isinstance(bps, bool) or not isinstance(bps, int | float) or not 0 <= bps <= 100:
            raise BadControl("'basisBps' must be a number from 0 to 100.")
        ex.basis_bps = float(bps)
    if "liquidation" in body:
        ex.liquidation = body["liquidation"]
    if "marketTrades" in body:
        server.options.market_trades = body["marketTrades"]
    if "funding" in body:
        ex.next_funding_ms = server.now_ms() + server.funding_period_ms if body["funding"] else 0
    return state(server, {"orders": "0"})["market"]


def _event_order(server: SimServer, body: dict) -> dict:
    """``{"events"?: "classic"|"lite-first"|"trade-first"|"random", "reply"?: "before"|"after"|"random"}``."""
    order = server.exchange.event_order
    events, reply = body.get("events", order.events), body.get("reply", order.reply)
    if events not in EVENT_ORDER_MODES:
        raise BadControl(f"'events' must be one of {', '.join(EVENT_ORDER_MODES)}.")
    if reply not in REPLY_ORDER_MODES:
        raise BadControl(f"'reply' must be one of {', '.join(REPLY_ORDER_MODES)}.")
    order.events, order.reply = events, reply
    return {"events": events, "reply": reply}


def _funding(server: SimServer, body: dict) -> dict:
    """``{"symbol"?, "rate"?}``: settle funding now (ACCOUNT_UPDATE m=FUNDING_FEE)."""
    sym = _symbol(server, body, required=False)
    rate = None
    if "rate" in body:
        try:
            rate = Decimal(str(body["rate"]))
        except InvalidOperation:
            raise BadControl("'rate' must be a decimal string such as \"0.0001\".") from None
        if not rate.is_finite() or abs(rate) > Decimal("0.05"):
            raise BadControl("'rate' must be between -0.05 and 0.05.")
    n = server.exchange.settle_funding(server.now_ms(), sym, rate)
    server.flush()
    return {"settled": n}


def _fault_extras(kind: str, body: dict) -> dict[str, Any]:
    """The fields only some kinds take: ``status_unknown`` (code, executed), ``…_in_fill`` (events)."""
    if kind == "status_unknown":
        code, executed = body.get("code", -1007), body.get("executed", True)
        if type(code) is not int or code not in STATUS_UNKNOWN:
            raise BadControl("'code' must be -1006 or -1007.")
        if not isinstance(executed, bool):
            raise BadControl("'executed' must be true or false.")
        return {"code": code, "executed": executed}
    if kind == "expire_listen_key_in_fill":
        events = body.get("events", 1)
        if not isinstance(events, int) or isinstance(events, bool) or not 0 <= events <= 100:
            raise BadControl("'events' must be an integer from 0 to 100.")
        return {"events": events}
    return {}


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
        elif kind == "drop_user_stream":
            return {"kind": kind, "dropped": server.drop_user_streams()}
        elif kind in ("algo_reject", "algo_hold", "expire_algos"):
            return _algo_fault(server, kind, count, ms, body)
        return {"kind": kind, "ms": ms}
    if kind in ("delay", "status_unknown", *LIMIT_KINDS) and ms < 0:
        raise BadControl("'ms' must not be negative.")
    code = body.get("code", -1003)
    if kind == "rate_limit_429" and (type(code) is not int or code not in LIMIT_CODES):
        raise BadControl("'code' must be -1003 (request weight) or -1015 (orders).")
    extras = {"code": code if kind == "rate_limit_429" else -1003, **_fault_extras(kind, body)}
    server.faults.add(Fault(kind, method, count, ms, **extras))
    return {"faults": server.faults.describe()}
