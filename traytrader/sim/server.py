"""The simulator's network face: REST, the WebSocket API and the streams on ONE aiohttp port.

The pure :class:`Exchange` decides; this module adapts HTTP/WebSocket to it, applies rate limits,
authentication and injected faults, and fans out events. One client's failure never reaches another:
every connection handler catches and logs at its boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from array import array
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from traytrader.sim.accounts import load_accounts
from traytrader.sim.auth import check_timestamp, split_rest_signature, verify
from traytrader.sim.batch import run_countdowns
from traytrader.sim.control import handle_control
from traytrader.sim.drift import Drift
from traytrader.sim.endpoints import ENDPOINTS, REST_ROUTES, Ctx
from traytrader.sim.errors import UNKNOWN_503_TEXT, SimError, err, missing
from traytrader.sim.event_order import EventOrder
from traytrader.sim.exchange import Exchange
from traytrader.sim.faults import LIMIT_KINDS, STATUS_UNKNOWN, Fault, FaultBook
from traytrader.sim.feeds import MarketFeeds
from traytrader.sim.guard import GuardedRunner, exposure_warning, host_allowed, origin_allowed
from traytrader.sim.history import History
from traytrader.sim.latency import Latency
from traytrader.sim.market import Market
from traytrader.sim.options import MARKET_LIKE, SimOptions, market_like  # noqa: F401  (re-exported)
from traytrader.sim.payloads import at_least, fixed
from traytrader.sim.prices import PricePath, load_candles
from traytrader.sim.ratelimit import Limits, RateLimiter
from traytrader.sim.streams import MarketConn, MarketHub, Outlet, UserHub, dumps
from traytrader.sim.views import premium_index
from traytrader.sim.wsapi import WsApiHandler, flushed, new_websocket

log = logging.getLogger("traytrader.sim")

STREAM_GROUPS = {"/public": "public", "/market": "market", "/private": "private", "": "legacy"}


def _price_sources(spec: str | None) -> dict[str, str]:
    """``--prices`` is ``PATH`` (drives BTCUSDT) or ``SYMBOL=PATH[,SYMBOL=PATH...]``."""
    if not spec:
        return {}
    out = {}
    for part in spec.split(","):
        sym, sep, path = part.partition("=")
        out.update({sym.strip().upper(): path.strip()} if sep else {"BTCUSDT": part.strip()})
    return out


class SimServer:
    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.market = Market.load()
        self.clock_skew_ms = 0
        now = self.now_ms()
        self.exchange = Exchange(
            self.market,
            load_accounts(options.accounts_file),
            now,
            seed=options.seed,
            history_limit=options.history_limit,
            book=options.book,
            event_order=EventOrder(options.event_order, options.reply_order, options.seed),
        )
        self.exchange.basis_bps = options.basis_bps
        self.exchange.liquidation = options.liquidation
        self.funding_period_ms = max(1, int(8 * 3600 * 1000 / options.speed))
        self.exchange.next_funding_ms = now + self.funding_period_ms if options.funding else 0
        sources = _price_sources(options.prices_csv)
        self.started_ms = now
        self.history = History(list(self.market.specs))
        self.replay_sources = {s: p for s, p in sources.items() if s in self.market.specs}
        self.replay_volumes: dict[str, list[Decimal]] = {}
        self.countdowns: dict[tuple[str, str], int] = {}  # (api key, symbol) -> countdownCancelAll due
        self.paths: dict[str, PricePath] = {}
        for i, (sym, spec) in enumerate(self.market.specs.items()):
            candles = load_candles(sources[sym]) if sym in sources else None
            path = PricePath(
                spec.start_price,
                spec.tick_size,
                seed=options.seed * 1000 + i,
                candles=candles,
                speed=options.speed,
                now_ms=now,
            )
            self.paths[sym] = path
            self.exchange.set_quote(sym, path.price, now)
            self.history.record_price(sym, path.price, now)
        self.limiter = RateLimiter(
            Limits(
                options.weight_limit_1m,
                options.orders_limit_10s,
                options.orders_limit_1m,
                enabled=options.rate_limits,
            )
        )
        self.faults = FaultBook()
        self.drift = Drift()  # exchange drift on purpose (sim/drift.py, /sim/drift)
        self.latency = Latency(options.latency_ms, options.latency_jitter_ms, options.seed)
        self.market_hub = MarketHub()
        self.feeds = MarketFeeds(self)
        self.user_hub = UserHub()
        self.ws_api = WsApiHandler(self)
        self.sockets: set[web.WebSocketResponse] = set()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.timings_ns = array("q")  # server time per order (ns) when options.measure
        self._tasks: list[asyncio.Task] = []
        self._mark_ticks = 0
        self._stopping = asyncio.Event()

    # ------------------------------------------------------------------------------ lifecycle
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.clock_skew_ms

    async def start(self) -> None:
        warning = exposure_warning(self.options.host)
        if warning:
            log.warning("%s", warning)
        self.runner = GuardedRunner(
            self._app(),
            self.options.header_timeout_s,
            handle_signals=False,
            access_log=None,
            keepalive_timeout=120.0,
            shutdown_timeout=2.0,
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.options.host, self.options.port, reuse_address=True)
        await site.start()
        self.port = self.runner.addresses[0][1]
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._every(self.options.tick_ms / 1000, self.tick)),
            loop.create_task(self._every(self.options.mark_interval_ms / 1000, self.mark_tick)),
        ]

    async def stop(self) -> None:
        self._stopping.set()  # wakes every REST reply sleeping in a ``delay`` fault
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.close_all(1001)
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def close_all(self, code: int = 1012, except_transport: Any = None) -> None:
        """Drop every WebSocket and every idle HTTP keep-alive connection (state is kept)."""
        for ws in list(self.sockets):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=code), 1)
        if self.runner is not None and self.runner.server is not None:
            for conn in self.runner.server.connections:
                if conn.transport is not except_transport:
                    conn.force_close()

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=self.options.max_frame_bytes)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def _every(self, period_s: float, fn: Any) -> None:
        while True:
            await asyncio.sleep(period_s)
            try:
                fn(self.now_ms())
            except Exception:
                log.exception("simulator timer failed")

    # ------------------------------------------------------------------------------ prices & events
    def tick(self, now_ms: int) -> None:
        for sym, path in self.paths.items():
            new = path.advance(now_ms)
            if new is not None:
                self.apply_price(sym, new, now_ms)
        self.exchange.expire_due(now_ms)
        ex = self.exchange
        if ex.next_funding_ms and now_ms >= ex.next_funding_ms:
            ex.settle_funding(now_ms)
            ex.next_funding_ms += self.funding_period_ms
        if self.countdowns:
            run_countdowns(self, now_ms)
        self.feeds.tick(now_ms)
        for key in self.exchange.expire_listen_keys(now_ms):
            self._listen_key_expired(key, now_ms)
        self.flush()

    def apply_price(self, symbol: str, last: Decimal, now_ms: int, mark: Decimal | None = None) -> None:
        before = self.exchange.quotes[symbol].last
        self.exchange.set_quote(symbol, last, now_ms, mark)
        if self.options.market_trades and last != before:
            self.exchange.market_trade(symbol, last, before, now_ms)
        self.history.record_price(symbol, last, now_ms)
        q = self.exchange.quotes[symbol]
        pp = self.market.specs[symbol].price_precision
        name = f"{symbol.lower()}@bookTicker"
        if self.market_hub.wanted(name) or self.market_hub.wanted("!bookTicker"):
            bid_qty, ask_qty = self.exchange.touch_qty(symbol)
            qp = self.market.specs[symbol].quantity_precision
            ev = {
                "e": "bookTicker",
                "u": q.update_id,
                "s": symbol,
                "b": at_least(q.bid, pp),
                "B": fixed(bid_qty, qp),
                "a": at_least(q.ask, pp),
                "A": fixed(ask_qty, qp),
                "T": now_ms,
                "E": now_ms,
            }
            self.market_hub.publish(name, ev)
            self.market_hub.publish("!bookTicker", ev)
        self.flush()

    def mark_tick(self, now_ms: int) -> None:
        self._mark_ticks += 1
        names = [("@markPrice@1s", "!markPrice@arr@1s")]
        if self._mark_ticks % 3 == 0:
            names.append(("@markPrice", "!markPrice@arr"))
        for suffix, all_name in names:
            batch = []
            for sym in self.market.specs:
                pi = premium_index(self.exchange, sym, now_ms)
                ev = {
                    "e": "markPriceUpdate",
                    "E": now_ms,
                    "s": sym,
                    "p": pi["markPrice"],
                    "ap": pi["markPrice"],
                    "P": pi["estimatedSettlePrice"],
                    "i": pi["indexPrice"],
                    "r": pi["lastFundingRate"],
                    "T": pi["nextFundingTime"],
                }
                self.market_hub.publish(sym.lower() + suffix, ev)
                batch.append(ev)
            self.market_hub.publish(all_name, batch)
        if self._mark_ticks % 2 == 0:  # 24 h tickers: "Update Speed: 2000ms"
            self.feeds.tickers(now_ms)

    def flush(self, expire_after: int | None = None) -> None:
        """Deliver the exchange's pending user-data events and public trades. ``expire_after`` (the
        ``expire_listen_key_in_fill`` fault): the account's listenKeys expire after that many of its
        events; the rest are lost, as on Binance once the key has lapsed."""
        ex = self.exchange
        if ex.outbox and expire_after is not None:
            self._expire_mid_fill(expire_after)
        if ex.outbox:
            if self.user_hub.conns:
                owners: dict[str, list[str]] = {}
                for k, (owner, _) in ex.listen_keys.items():
                    owners.setdefault(owner, []).append(k)
                for api_key, payload in ex.outbox:
                    if api_key in owners:
                        self.user_hub.send(owners[api_key], self.drift.user_event(payload))
            for api_key, payload in ex.outbox:
                self.history.record_event(api_key, payload)
            ex.outbox.clear()
        if ex.trades:
            for sym, price, qty, buyer_maker, trade_id, t in ex.trades:
                trade = self.history.record_trade(sym, price, qty, buyer_maker, trade_id, t)
                name = f"{sym.lower()}@aggTrade"
                if self.market_hub.wanted(name):
                    spec = self.market.specs[sym]
                    self.market_hub.publish(
                        name,
                        {
                            "e": "aggTrade",
                            "E": t,
                            "a": trade.agg_id,
                            "s": sym,
                            "p": at_least(price, spec.price_precision),
                            "q": fixed(qty, spec.quantity_precision),
                            "nq": fixed(qty, spec.quantity_precision),
                            "f": trade_id,
                            "l": trade_id,
                            "T": t,
                            "m": buyer_maker,
                        },
                    )
                self.feeds.trade(sym, trade)
            ex.trades.clear()

    def _expire_mid_fill(self, n: int) -> None:
        ex = self.exchange
        owner = ex.outbox[0][0]
        kept, seen = [], 0
        for api_key, payload in ex.outbox:
            if api_key == owner:
                seen += 1
                if seen > n:
                    continue  # lost: the key lapsed before it could be delivered
            kept.append((api_key, payload))
        ex.outbox[:] = kept
        self.flush()
        now = self.now_ms()
        for key in [k for k, (o, _) in ex.listen_keys.items() if o == owner]:
            del ex.listen_keys[key]
            self._listen_key_expired(key, now)

    def drop_user_streams(self) -> int:
        """Drop every user-data stream connection (TCP abort, no close frame); listenKeys stay valid
        and the WS API and market streams are untouched. Returns how many were dropped."""
        outlets = {o for conns in self.user_hub.conns.values() for o in conns}
        for outlet in outlets:
            outlet.abort()
        return len(outlets)

    def execute_late(self, ms: int, fn: Any) -> None:
        """Run ``fn()`` (an order whose answer said "execution status unknown") ``ms`` from now."""

        def run() -> None:
            try:
                fn()
            except SimError:
                pass  # refused when it finally reached the matching engine: it never existed
            except Exception:
                log.exception("late execution failed")
            self.flush()

        asyncio.get_running_loop().call_later(ms / 1000, run)

    def _listen_key_expired(self, key: str, now_ms: int) -> None:
        # Docs example: E is a string here ("E":"1736996475556").
        self.user_hub.send([key], {"e": "listenKeyExpired", "E": str(now_ms), "listenKey": key})
        for outlet in list(self.user_hub.conns.get(key, ())):
            outlet.stop()

    def expire_listen_keys_now(self) -> list[str]:
        now = self.now_ms()
        keys = self.exchange.expire_listen_keys(now, force=True)
        for k in keys:
            self._listen_key_expired(k, now)
        return keys

    # ------------------------------------------------------------------------------ routing
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        control = path.startswith("/sim/") or path == "/sim"
        refused = self._refuse_foreign(request, control)
        if refused is not None:
            return refused
        try:
            if path == "/ws-fapi/v1":
                return await self.ws_api.handle(request)
            if path.startswith("/fapi/"):
                return await self._rest(request)
            if control:
                if not self.options.control:
                    return web.json_response({"code": -1000, "msg": "Control API is disabled."}, status=404)

                return await handle_control(self, request)
            group, rest = self._stream_route(path)
            if group is not None and not self.drift.refuses_group(group):
                return await self._stream(request, group, rest)
        except ConnectionError:  # the client vanished mid-request: nothing to answer
            return web.Response(status=499)
        except web.HTTPRequestEntityTooLarge:
            msg = f"The request body is larger than {self.options.max_frame_bytes} bytes."
            body = {"error": msg} if control else {"code": -1000, "msg": msg}
            return web.json_response(body, status=413, headers={"Connection": "close"})
        except Exception:
            log.exception("request %s %s failed", request.method, path)
            return web.json_response(
                {"code": -1000, "msg": "An unknown error occured while processing the request."}, status=500
            )
        return web.json_response({"code": -1000, "msg": f"Unknown path {path}."}, status=404)

    def _refuse_foreign(self, request: web.Request, control: bool) -> web.StreamResponse | None:
        """403 for a request a web page made (foreign Origin) or reached by DNS rebinding (foreign Host)."""
        host = request.headers.get("Host")
        if not host_allowed(host, self.options.host, control):
            msg = f"Host {host!r} is not this simulator's loopback address; request refused."
        elif not origin_allowed(request.headers.get("Origin"), host):
            msg = f"Requests from the web page {request.headers.get('Origin')!r} are refused."
        else:
            return None
        log.warning("refused %s %s: %s", request.method, request.path, msg)
        body = {"error": msg} if control else {"code": -1000, "msg": msg}
        return web.json_response(body, status=403, headers={"Connection": "close"})

    @staticmethod
    def _stream_route(path: str) -> tuple[str | None, str]:
        for prefix, group in STREAM_GROUPS.items():
            for form in ("/ws", "/stream"):
                base = prefix + form
                if path == base or path.startswith(base + "/"):
                    return group, form + path[len(base) :]
        return None, ""

    # ------------------------------------------------------------------------------ REST
    async def _rest(self, request: web.Request) -> web.StreamResponse:
        t0 = time.perf_counter_ns()
        now = self.now_ms()
        method_path = f"{request.method} {request.path}"
        name = REST_ROUTES.get((request.method, request.path))
        if name is None or self.drift.hides_route(name):
            return web.json_response({"code": -1000, "msg": f"Unknown path {request.path}."}, status=404)
        ep = ENDPOINTS[name]
        ip = request.remote or "?"
        query = request.rel_url.raw_query_string  # as signed: still percent-encoded (batchOrders JSON)
        body = await request.text() if request.can_read_body else ""
        params: dict[str, str] = dict(parse_qsl(query, keep_blank_values=True))
        if body:
            params.update(parse_qsl(body, keep_blank_values=True))
        faults = self.faults.take(method_path)
        kinds = {f.kind: f for f in faults}
        unknown: Fault | None = kinds.get("status_unknown")
        if "drop_before_execute" in kinds:
            return self._drop(request)
        limit_fault = next((f for f in faults if f.kind in LIMIT_KINDS), None)
        api_key: str | None = None
        retry_after_s: int | None = None
        try:
            self.limiter.charge_weight(ip, ep.weight_for(params), now)
            if limit_fault is not None:
                raise self.limiter.inject(limit_fault.kind, limit_fault.code, ip, limit_fault.ms, now)
            api_key = self._rest_auth(request, ep.security, params, query, body, now)
            if ep.counts_order:
                self.limiter.charge_order(api_key, now)
            ctx = Ctx(self.exchange, api_key or "", params, now, self)
            if unknown is None or (unknown.executed and not unknown.ms):
                status, payload = 200, ep.fn(ctx)
            elif unknown.executed:
                self.execute_late(unknown.ms, lambda: ep.fn(ctx))
            if unknown is not None:
                status, payload = STATUS_UNKNOWN[unknown.code][0], unknown.body()
        except SimError as e:
            status, payload = e.http_status, e.body()
            if status in (418, 429):
                self.limiter.note_refused(ip, e)
                retry_after_s = e.retry_after_s(now)
        fill_fault = kinds.get("expire_listen_key_in_fill")
        self.flush(fill_fault.events if fill_fault is not None else None)
        if self.options.measure and ep.counts_order:
            self.timings_ns.append(time.perf_counter_ns() - t0)
        if "unknown_503" in kinds:
            status, payload = 503, {"code": -1000, "msg": UNKNOWN_503_TEXT}
        headers = self.limiter.headers(ip, api_key, now)
        if retry_after_s is not None:
            headers["Retry-After"] = str(retry_after_s)
        if "drop_before_reply" in kinds:
            return self._drop(request)
        if "delay" in kinds:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), kinds["delay"].ms / 1000)
            if self._stopping.is_set():  # shutting down: the reply is never sent, as a dying server
                return self._drop(request)
        if self.latency.active:
            await asyncio.sleep(self.latency.sample_s())
        resp = web.Response(
            text=dumps(payload), status=status, headers=headers, content_type="application/json"
        )
        if "drop_after_reply" in kinds:
            await resp.prepare(request)
            await resp.write_eof()
            await flushed(request.transport)
            self._drop(request)
        return resp

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=499)

    def _rest_auth(
        self, request: web.Request, security: str, params: dict, query: str, body: str, now: int
    ) -> str | None:
        if security == "none":
            return None
        self.drift.check_key(security)
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise SimError(-2014, "API-key format invalid.", 401)
        acct = self.exchange.accounts.get(key)
        if acct is None:
            raise err(-2015, http_status=401)
        if security == "signed":
            check_timestamp(params, now)
            cands, sig = split_rest_signature(query, body)
            if sig is None:
                raise missing("signature")
            if not verify(acct.spec, cands, sig):
                raise err(-1022)
        return key

    # ------------------------------------------------------------------------------ streams
    async def _stream(self, request: web.Request, group: str, rest: str) -> web.StreamResponse:
        now = self.now_ms()
        combined = rest.startswith("/stream")
        names = [n for n in rest[4:].split("/") if n] if rest.startswith("/ws/") else []
        if combined and request.query.get("streams"):
            names = [n for n in request.query["streams"].split("/") if n]
        if request.query.get("listenKey"):
            names.append(request.query["listenKey"])
        keys = [n for n in names if self.exchange.listen_key_owner(n, now)]
        if group == "private" and (len(keys) != len(names) or (not combined and not keys)):
            return web.json_response(err(-1125).body(), status=400)
        ws = new_websocket(self.options.ping_interval_s, self.options.pong_timeout_s, 64 * 1024)
        await ws.prepare(request)
        self.sockets.add(ws)
        conn = MarketConn(Outlet(ws, self.latency, request.transport), group, combined)
        timer = asyncio.get_running_loop().call_later(self.options.session_limit_s, conn.outlet.stop)
        try:
            self._subscribe(conn, names, now)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._stream_command(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("stream connection failed")
        finally:
            timer.cancel()
            self.sockets.discard(ws)
            self._unsubscribe(conn, [*conn.user_keys, *conn.names])
            conn.outlet.stop()
        return ws

    def _subscribe(self, conn: MarketConn, names: list[str], now_ms: int) -> None:
        """Market streams go to the market hub; a live listenKey (private/legacy URLs) to the user hub."""
        for name in names:
            if conn.group in ("private", "legacy") and self.exchange.listen_key_owner(name, now_ms):
                if name not in conn.user_keys:
                    conn.user_keys.append(name)
                    self.user_hub.add(name, conn.outlet, conn.combined)
            else:
                self.market_hub.subscribe(conn, [name])

    def _unsubscribe(self, conn: MarketConn, names: list[str]) -> None:
        for name in names:
            if name in conn.user_keys:
                conn.user_keys.remove(name)
                self.user_hub.remove(name, conn.outlet)
            else:
                self.market_hub.unsubscribe(conn, [name])

    def _stream_command(self, conn: MarketConn, data: str) -> None:
        try:
            req = json.loads(data)
            method, rid = req["method"], req.get("id")
            params = req.get("params") or []
        except (ValueError, KeyError, TypeError, RecursionError):
            conn.outlet.send(dumps({"error": {"code": 0, "msg": "Invalid request"}, "id": None}))
            return
        if method == "SUBSCRIBE" and isinstance(params, list):
            self._subscribe(conn, [str(p) for p in params], self.now_ms())
            conn.outlet.send(dumps({"result": None, "id": rid}))
        elif method == "UNSUBSCRIBE" and isinstance(params, list):
            self._unsubscribe(conn, [str(p) for p in params])
            conn.outlet.send(dumps({"result": None, "id": rid}))
        elif method == "LIST_SUBSCRIPTIONS":
            conn.outlet.send(dumps({"result": [*conn.names, *conn.user_keys], "id": rid}))
        else:
            conn.outlet.send(
                dumps({"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"}, "id": rid})
            )
