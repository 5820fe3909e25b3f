"""The WebSocket API (``/ws-fapi/v1``): envelope, session logon, per-request signing, faults.

Envelope and rules from the protocol notes sections 1.2-1.7: JSON text frames, ``id`` echoed,
``status`` with HTTP semantics, ``result`` or ``error``, ``rateLimits`` unless turned off with
``returnRateLimits``; ``session.logon`` for Ed25519 keys only; after logon requests may omit
``apiKey``/``signature`` but still carry ``timestamp``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from traytrader.sim.auth import check_timestamp, verify, ws_payloads
from traytrader.sim.endpoints import ENDPOINTS, WS_METHODS, Ctx
from traytrader.sim.errors import UNKNOWN_503_TEXT, SimError, err, missing
from traytrader.sim.faults import LIMIT_KINDS, STATUS_UNKNOWN, Fault
from traytrader.sim.latency import DelayLine
from traytrader.sim.state import Account
from traytrader.sim.streams import dumps
from traytrader.sim.validation import text

if TYPE_CHECKING:
    from traytrader.sim.server import SimServer

log = logging.getLogger("traytrader.sim.wsapi")

INVALID_JSON = {"code": -1000, "msg": "Invalid JSON request."}
ORDER_METHODS = frozenset({"order.place", "order.modify", "algoOrder.place"})


@dataclass
class Session:
    ip: str
    connected_ms: int
    return_rate_limits: bool
    transport: Any = None
    api_key: str | None = None
    authorized_since: int | None = None
    line: DelayLine | None = None  # replies leave through it (the --latency home line)


@dataclass
class Reply:
    status: int
    body: Any
    api_key: str | None = None
    orders: bool = False


async def flushed(transport: Any) -> None:
    """Wait (briefly) until the kernel has taken our reply, so a drop after it cannot eat it."""
    for _ in range(200):
        if transport is None or transport.is_closing() or transport.get_write_buffer_size() == 0:
            return
        await asyncio.sleep(0.001)


def new_websocket(ping_interval_s: float, pong_timeout_s: float, max_msg_size: int) -> web.WebSocketResponse:
    """A server WebSocket that pings after ``ping_interval_s`` idle and closes when no pong comes
    within ``pong_timeout_s``. aiohttp fixes the pong wait at half the heartbeat (90 s for Binance's
    3-minute ping); Binance waits 10 minutes, so the wait is set on aiohttp's own attribute
    (``tests/sim/test_sim_rate_faults.py`` fails if aiohttp stops honouring it)."""
    ws = web.WebSocketResponse(compress=False, heartbeat=ping_interval_s, max_msg_size=max_msg_size)
    ws._pong_heartbeat = pong_timeout_s
    return ws


class WsApiHandler:
    """Serves one WebSocket API connection per ``handle`` call; one client's failure stays its own."""

    def __init__(self, server: SimServer) -> None:
        self.server = server

    async def handle(self, request: web.Request) -> web.StreamResponse:
        opts = self.server.options
        ws = new_websocket(opts.ping_interval_s, opts.pong_timeout_s, opts.max_frame_bytes)
        await ws.prepare(request)
        now = self.server.now_ms()
        sess = Session(
            request.remote or "?",
            now,
            request.query.get("returnRateLimits", "true").lower() != "false",
            request.transport,
            line=DelayLine(self.server.latency),
        )
        self.server.sockets.add(ws)
        timer = asyncio.get_running_loop().call_later(
            self.server.options.session_limit_s,
            lambda: asyncio.ensure_future(ws.close(code=1000, message=b"24h")),
        )
        try:
            try:  # "WebSocket handshake attempt costs 5 weight"
                self.server.limiter.charge_weight(sess.ip, 5, now)
            except SimError as e:
                self.server.limiter.note_refused(sess.ip, e)
                await ws.close(code=1008, message=b"rate limited")
                return ws
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._ws_request(ws, sess, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await ws.send_str(dumps({"id": None, "status": 400, "error": INVALID_JSON}))
                elif msg.type == WSMsgType.ERROR:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("WebSocket API connection failed")
        finally:
            timer.cancel()
            self.server.sockets.discard(ws)
        return ws

    async def _ws_request(self, ws: web.WebSocketResponse, sess: Session, data: str) -> None:
        t0 = time.perf_counter_ns()
        now = self.server.now_ms()
        try:
            req = json.loads(data, parse_float=Decimal)
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
            req = None
        if not isinstance(req, dict) or not isinstance(req.get("method"), str) or "id" not in req:
            rid = req.get("id") if isinstance(req, dict) else None
            await ws.send_str(dumps({"id": rid, "status": 400, "error": INVALID_JSON}))
            return
        rid, method, params = req["id"], req["method"], req.get("params") or {}
        if not isinstance(params, dict):
            await ws.send_str(dumps({"id": rid, "status": 400, "error": missing("params").body()}))
            return
        faults = {f.kind: f for f in self.server.faults.take(method)}
        if "drop_before_execute" in faults:
            self._abort(ws, sess)
            return
        limit_fault = next((f for k, f in faults.items() if k in LIMIT_KINDS), None)
        unknown = faults.get("status_unknown")
        if unknown is None or (unknown.executed and not unknown.ms):
            reply = self._ws_execute(sess, method, params, now, limit_fault)
        elif unknown.executed:  # executes ms after its "status unknown" answer
            self.server.execute_late(unknown.ms, lambda: self._ws_execute(sess, method, params, now))
        if unknown is not None:
            http_status = STATUS_UNKNOWN[unknown.code][0]
            reply = Reply(http_status, unknown.body(), sess.api_key, method in ORDER_METHODS)
        expiring = faults.get("expire_listen_key_in_fill")
        fill_fault = expiring.events if expiring is not None else None
        ex = self.server.exchange
        if ex.outbox and not ex.event_order.reply_first():  # reply_order "after" (or drawn so)
            self.server.flush(fill_fault)
            await self.server.user_hub.drained()
        try:
            await self._answer(ws, sess, rid, params, reply, faults, now, t0)
        finally:
            # By default the reply goes first, then the stream events the request caused (fills,
            # account updates); ``reply_order`` "after"/"random" sends (some) events first.
            self.server.flush(fill_fault)

    async def _answer(
        self, ws: web.WebSocketResponse, sess: Session, rid: Any, params: dict,
        reply: Reply, faults: dict[str, Any], now: int, t0: int,
    ) -> None:
        if self.server.options.measure and reply.orders:
            self.server.timings_ns.append(time.perf_counter_ns() - t0)
        env: dict[str, Any] = {"id": rid, "status": reply.status}
        if "unknown_503" in faults:
            env["status"], env["error"] = 503, {"code": -1000, "msg": UNKNOWN_503_TEXT}
        elif reply.status == 200:
            env["result"] = reply.body
        else:
            env["error"] = reply.body
        rl = params.get("returnRateLimits")
        show = sess.return_rate_limits if rl is None else str(rl).lower() != "false"
        if show:
            env["rateLimits"] = self.server.limiter.report(sess.ip, reply.api_key, now, reply.orders)
        out = dumps(env)
        if "drop_before_reply" in faults:
            self._abort(ws, sess)
            return
        if "delay" in faults:
            asyncio.get_running_loop().create_task(
                self._send_later(ws, sess, out, faults["delay"].ms, "drop_after_reply" in faults)
            )
            return
        assert sess.line is not None
        await sess.line.send(ws.send_str, out)
        if "drop_after_reply" in faults:
            await sess.line.idle()  # over a slow line the reply leaves first, then the drop
            await flushed(sess.transport)
            self._abort(ws, sess)

    async def _send_later(
        self, ws: web.WebSocketResponse, sess: Session, out: str, ms: int, drop: bool
    ) -> None:
        await asyncio.sleep(ms / 1000)
        with contextlib.suppress(Exception):
            await ws.send_str(out)
            if drop:
                await flushed(sess.transport)
                self._abort(ws, sess)

    def _abort(self, ws: web.WebSocketResponse, sess: Session) -> None:
        self.server.sockets.discard(ws)
        if sess.transport is not None:
            sess.transport.abort()

    def _ws_execute(
        self, sess: Session, method: str, params: dict, now: int, limit_fault: Fault | None = None
    ) -> Reply:
        limiter = self.server.limiter
        try:
            if method.startswith("session."):
                limiter.charge_weight(sess.ip, 2, now)
                if limit_fault is not None:
                    raise limiter.inject(limit_fault.kind, limit_fault.code, sess.ip, limit_fault.ms, now)
                if method == "session.logon":
                    self.server.drift.check_logon()
                return Reply(200, self._session(sess, method, params, now), sess.api_key)
            name = WS_METHODS.get(method)
            if name is None:
                # UNCONFIRMED: Binance's exact answer to an unknown method; -1000 with a clear text.
                return Reply(400, {"code": -1000, "msg": f"Unknown method '{method}'."})
            ep = ENDPOINTS[name]
            limiter.charge_weight(sess.ip, ep.weight_for(params), now)
            if limit_fault is not None:
                raise limiter.inject(limit_fault.kind, limit_fault.code, sess.ip, limit_fault.ms, now)
            if (refusal := self.server.drift.ws_refusal(method, ep.security)) is not None:
                raise refusal
            api_key = self._ws_auth(sess, ep.security, params, now)
            if ep.counts_order:
                limiter.charge_order(api_key or "", now)
            result = ep.fn(Ctx(self.server.exchange, api_key or "", params, now, self.server))
            return Reply(200, result, api_key, ep.counts_order)
        except SimError as e:
            limiter.note_refused(sess.ip, e)
            # A refused order still reports the account's ORDERS counters when its key is known.
            key = text(params, "apiKey")
            key = key if key in self.server.exchange.accounts else sess.api_key
            return Reply(e.http_status, e.ws_body(now), key, method in ORDER_METHODS)
        except Exception:
            log.exception("WS API %s failed", method)
            return Reply(
                500, {"code": -1000, "msg": "An unknown error occured while processing the request."}
            )

    def _ws_auth(self, sess: Session, security: str, params: dict, now: int) -> str | None:
        if security == "none":
            return None
        if security == "key":
            key = text(params, "apiKey") or sess.api_key
            if not key:
                raise missing("apiKey")
            if key not in self.server.exchange.accounts:
                raise err(-2015, http_status=401)
            return key
        if params.get("signature") not in (None, ""):
            key, acct = self._account(params)
            check_timestamp(params, now)
            if not verify(acct.spec, ws_payloads(params), str(params["signature"])):
                raise err(-1022)
            return key
        if sess.api_key is not None:
            check_timestamp(params, now)
            return sess.api_key
        raise missing("signature" if text(params, "apiKey") else "apiKey")

    def _account(self, params: dict) -> tuple[str, Account]:
        """The account of the request's own ``apiKey`` (signed requests and logon name it)."""
        key = text(params, "apiKey")
        if key is None:
            raise missing("apiKey")
        acct = self.server.exchange.accounts.get(key)
        if acct is None:
            raise err(-2015, http_status=401)
        return key, acct

    def _session(self, sess: Session, method: str, params: dict, now: int) -> dict:
        if method == "session.logon":
            key, acct = self._account(params)
            check_timestamp(params, now)
            if params.get("signature") in (None, ""):
                raise missing("signature")
            # Only Ed25519 keys may log on; an HMAC key gets -1022 (UNCONFIRMED, see docs/sim.md).
            if not acct.spec.is_ed25519 or not verify(
                acct.spec, ws_payloads(params), str(params["signature"])
            ):
                raise err(-1022)
            sess.api_key, sess.authorized_since = key, now
        elif method == "session.logout":
            sess.api_key = sess.authorized_since = None
        elif method != "session.status":
            raise SimError(-1000, f"Unknown method '{method}'.")
        return {
            "apiKey": sess.api_key,
            "authorizedSince": sess.authorized_since,
            "connectedSince": sess.connected_ms,
            "returnRateLimits": sess.return_rate_limits,
            "serverTime": now,
        }
