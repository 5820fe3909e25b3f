"""The warm session: every connection and cache the hot path needs, kept up to date.

Owns the REST client, the clock, the WS-API connection (reconnect with backoff, planned rollover
before the 24-hour limit), the streams, exchangeInfo, the position mode, book and mark prices,
positions and open orders. Warm-up itself is in ``warmup.py``. After warm-up a keypress needs no
request but the order (design: "The flow of one keypress").

Everything runs on the engine's one asyncio loop; nothing here takes a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from traytrader.core.errors import ExchangeRejected, TransportError
from traytrader.core.filters import ExchangeInfo, SymbolFilters
from traytrader.core.frames import FrameBuilder
from traytrader.core.models import ApiCredentials, AppConfig, KeyType, PositionMode
from traytrader.core.ownership import is_our_entry
from traytrader.core.ratelimit import RateLimiter
from traytrader.core.retry import RetryDecision, backoff, classify
from traytrader.core.shield_table import Reaction, row_for
from traytrader.core.signing import make_signer
from traytrader.engine.api import EngineState, Event, Notice, StateChanged
from traytrader.engine.journal import Journal
from traytrader.engine.positions import Position, PositionTracker, sane_decimal
from traytrader.exchange.clock import Clock
from traytrader.exchange.rest import RestClient
from traytrader.exchange.streams import StreamConnection, UserStream
from traytrader.exchange.ws_api import Reply, WsApi

log = logging.getLogger(__name__)

# A WS-API connection "is only valid for 24 hours" (websocket-api-general-info.md): roll over well
# before that, new connection first.
ROLLOVER_AFTER_S = 23 * 3600.0
CLOCK_REFRESH_S = 15 * 60.0
RESYNC_ATTEMPTS = 3              # resync failures (not rate limits) before trading on regardless
DEFAULT_HOLD_MS = 60_000         # a 418/429 without Retry-After


def _price(value: Any) -> Decimal | None:
    """A market price from a stream: finite, positive and sane, else None."""
    price = sane_decimal(value)
    return price if price is not None and price > 0 else None


class Session:
    """Connections and caches of one engine. ``emit`` carries events to the front ends."""

    def __init__(
        self,
        config: AppConfig,
        credentials: ApiCredentials,
        *,
        emit: Callable[[Event], None],
        journal: Journal,
        rollover_after_s: float = ROLLOVER_AFTER_S,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.emit = emit
        self.journal = journal
        self.rollover_after_s = rollover_after_s
        self._rng = rng or random.Random()
        settings = config.exchange
        self.timeout_s = settings.request_timeout_ms / 1000
        self.clock = Clock()
        self.signer = make_signer(credentials)
        self.limiter = RateLimiter(max_orders_per_minute=config.safety.max_orders_per_minute,
                                   max_notional_usdt=config.safety.max_notional_usdt)
        self.rest = RestClient(settings.rest_url, credentials.api_key, self.signer, now_ms=self.clock.now_ms,
                               recv_window_ms=settings.recv_window_ms, timeout_s=self.timeout_s,
                               on_rate_limits=self._observe_limits)
        self.logon = credentials.key_type is KeyType.ED25519
        self.ws: WsApi | None = None
        self.info: ExchangeInfo | None = None
        self.mode = PositionMode.ONE_WAY
        self.tracker = PositionTracker()
        self.books: dict[str, tuple[Decimal, Decimal]] = {}
        self.price_seen: dict[str, float] = {}   # symbol -> time.monotonic() of its last mark price
        self.open_orders: dict[str, dict[str, dict[str, Any]]] = {}   # symbol -> clientOrderId -> order
        self.last_changed: list[Position] = []   # positions the last user-data event may have changed
        self.user_events = 0   # user-data events seen: a snapshot read across one is stale
        self.user_stream_seen = False   # the user stream connected once (later: reconnects)
        # (symbol, side, amount, entry) of positions whose owner was looked up (``load_ownership``)
        self.ownership_asked: set[tuple[str, Any, Decimal, Decimal]] = set()
        self.resync_when_ready: Callable[[], Any] | None = None   # a resync owed once READY again
        self.user_stream: UserStream | None = None
        self.market_streams: list[StreamConnection] = []
        self.state = EngineState.LOCKED
        self.detail = ""
        self.applied_settings: dict[str, tuple[int, str]] = {}   # symbol -> (leverage, margin type)
        # Listeners the engine wires: user-data events, market events, "the WS API is back".
        self.user_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.ready_listeners: list[Callable[[], None]] = []   # run on every change to READY
        self.market_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.reconnect_listeners: list[Callable[[], Awaitable[None]]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconnecting: asyncio.Task[None] | None = None
        self._delays: Iterator[float] | None = None    # reconnect backoff, reset by a clean resync
        self.banned_until_ms = 0                         # exchange clock: no requests before this
        self._closing = False

    # -- state -----------------------------------------------------------------------------------
    def set_state(self, state: EngineState, detail: str = "") -> None:
        if state is self.state and detail == self.detail:
            return
        self.state, self.detail = state, detail
        text = f"Engine {state.value}" + (f": {detail}" if detail else ".")
        self.journal.record("state", text)
        if state is EngineState.READY:
            owed, self.resync_when_ready = self.resync_when_ready, None
            if owed is not None:
                owed()
            for listener in self.ready_listeners:
                listener()
        self.emit(StateChanged(text, state=state, detail=detail))

    def notice(self, text: str, level: str = "info") -> None:
        self.journal.record("notice", text)
        self.emit(Notice(text, level=level))

    @property
    def ready(self) -> bool:
        return self.state is EngineState.READY and self.ws is not None and self.ws.connected

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- caches ----------------------------------------------------------------------------------
    def filters(self, symbol: str) -> SymbolFilters:
        if self.info is None:
            raise TransportError("The exchange info is not loaded yet.")
        return self.info.symbol(symbol)

    def book(self, symbol: str) -> tuple[Decimal, Decimal] | None:
        return self.books.get(symbol)

    def mark(self, symbol: str) -> Decimal | None:
        return self.tracker.marks.get(symbol)

    def price_age_s(self, symbol: str) -> float | None:
        """Seconds since the last mark price of ``symbol`` (``@markPrice@1s``: about 1 when the
        market streams are healthy), None before the first."""
        seen = self.price_seen.get(symbol)
        return None if seen is None else time.monotonic() - seen

    def on_market_stalled(self) -> None:
        self.journal.record("notice", "market stream stalled; reconnecting it, prices are stale meanwhile")

    def _observe_limits(self, rate_limits: list[dict[str, Any]]) -> None:
        self.limiter.observe(rate_limits, self.clock.now_ms())

    # -- the WS API ------------------------------------------------------------------------------
    def _frame_builder(self, logged_on: bool) -> FrameBuilder:
        return FrameBuilder(self.credentials, self.config.exchange.recv_window_ms, logged_on)

    async def open_ws(self) -> WsApi:
        """A new, logged-on (Ed25519) WS-API connection; not yet installed as ``self.ws``."""
        ws = WsApi(self.config.exchange.ws_api_url, self._frame_builder(False), now_ms=self.clock.now_ms,
                   timeout_s=self.timeout_s, on_rate_limits=self._observe_limits,
                   on_unsolicited=self._on_ws_unsolicited, on_closed=self._on_ws_closed)
        await ws.open()
        try:
            if self.logon:
                builder = ws.frames
                assert isinstance(builder, FrameBuilder)
                await ws.logon(builder.logon_frame)
                builder.logged_on = True
        except BaseException:
            await ws.close()
            raise
        return ws

    async def call(self, method: str, params: Mapping[str, Any], *, symbol: str = "",
                   client_id: str = "") -> Reply:
        """One WS-API request, journalled before sending and after the answer."""
        ws = self.ws
        if ws is None or not ws.connected:
            raise TransportError("Not connected to the exchange.")
        self.journal.record("request", method, symbol=symbol, client_id=client_id, data=dict(params))
        try:
            reply = await ws.call(method, params)
        except Exception as exc:
            self.journal.record("response", f"{method}: {exc}", symbol=symbol, client_id=client_id,
                                data={"error": exc.__class__.__name__, "code": getattr(exc, "code", None)})
            raise
        self.journal.record("response", method, symbol=symbol, client_id=client_id, data=reply.result,
                            latency_us=(reply.received_ns - reply.wire_ns) / 1000)
        return reply

    async def call_keyed(self, method: str, params: Mapping[str, Any] | None = None) -> Reply:
        """A keyed, unsigned WS-API request (``userDataStream.*``); the listenKey is not journalled."""
        ws = self.ws
        if ws is None or not ws.connected:
            raise TransportError("Not connected to the exchange.")
        self.journal.record("request", method, data=dict(params or {}))
        reply = await ws.call_keyed(method, params)
        self.journal.record("response", method, data=reply.result,
                            latency_us=(reply.received_ns - reply.wire_ns) / 1000)
        return reply

    async def rest_call(self, verb: str, path: str, params: Mapping[str, Any] | None = None, *,
                        signed: bool = True, keyed: bool = True) -> Any:
        """One REST request, journalled like WS-API requests."""
        self.journal.record("request", f"{verb} {path}", data=dict(params or {}))
        try:
            body = await self.rest.request(verb, path, params, signed=signed, keyed=keyed)
        except Exception as exc:
            self.journal.record("response", f"{verb} {path}: {exc}",
                                data={"error": exc.__class__.__name__, "code": getattr(exc, "code", None)})
            raise
        self.journal.record("response", f"{verb} {path}", data=body)
        return body

    def _on_ws_unsolicited(self, message: Any) -> None:
        self.journal.record("stream", "ws-api unsolicited", data=getattr(message, "__dict__", message))
        code = getattr(message, "error_code", None)
        if code == -2015:  # key revoked mid-session (protocol notes 1.3)
            self.set_state(EngineState.ERROR, "the exchange revoked the API key's access (code -2015)")

    def _on_ws_closed(self, ws: WsApi, error: BaseException | None) -> None:
        if self._closing or ws is not self.ws:
            return  # a rolled-over connection closing, or our own shutdown
        self.ws = None
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = self.spawn(self._reconnect(error), "ws-reconnect")

    def note_rate_limit(self, exc: BaseException) -> bool:
        """Remember a 418/429 (-1003/-1015) answer's ``retry_until_ms``: no connection attempt
        and no resync before then. True when ``exc`` was such an answer."""
        if not isinstance(exc, ExchangeRejected):
            return False
        row = row_for(exc.code, exc.http_status)
        if row is None or row.reaction not in (Reaction.BACKOFF_HOLD, Reaction.BANNED):
            return False
        until = exc.retry_until_ms or self.clock.now_ms() + DEFAULT_HOLD_MS
        self.banned_until_ms = max(self.banned_until_ms, until)
        return True

    async def wait_out_ban(self) -> None:
        """Hold while the exchange told us to (F10): say until when, send nothing meanwhile."""
        wait_ms = self.banned_until_ms - self.clock.now_ms()
        if wait_ms <= 0:
            return
        local_ms = self.banned_until_ms - self.clock.offset_ms
        until = time.strftime("%H:%M:%S", time.localtime(local_ms / 1000))
        self.set_state(EngineState.CONNECTING,
                       f"the exchange rate-limited us; waiting until {until} before trying again")
        await asyncio.sleep(wait_ms / 1000)

    async def resync(self) -> BaseException | None:
        """Run the reconnect listeners; the first failure (or None)."""
        failure: BaseException | None = None
        for listener in list(self.reconnect_listeners):
            try:
                await listener()
            except Exception as exc:
                log.info("resync after reconnect failed: %s", exc)
                failure = failure or exc
        return failure

    async def _reconnect(self, error: BaseException | None) -> None:
        """Reconnect until a connection survives a clean resync, then READY again.

        The backoff lives on the session and is reset only by a clean resync, so a connection the
        exchange keeps closing (rate limits) is retried ever more slowly, never in a storm; a
        418/429 holds every attempt until its ``Retry-After`` (F10)."""
        if self.state is EngineState.READY:
            self.set_state(EngineState.CONNECTING, "connection lost, reconnecting")
        if self._delays is None:
            self._delays = backoff(initial_s=0.05, max_s=10.0, rng=self._rng)
        delays = self._delays
        failures = 0
        while not self._closing:
            await self.wait_out_ban()
            ws = self.ws
            if ws is None or not ws.connected:
                try:
                    ws = await self.open_ws()
                except Exception as exc:
                    if classify(exc) is RetryDecision.FATAL and not self.note_rate_limit(exc):
                        self.set_state(EngineState.ERROR, str(exc))
                        return
                    await asyncio.sleep(next(delays))
                    continue
                self.ws = ws
                self.notice("Reconnected to the exchange.")
            failure = await self.resync()
            alive = self.ws is ws and ws.connected
            if failure is None and alive:
                self._delays = None
                if self.state is not EngineState.ERROR:
                    self.set_state(EngineState.READY)
                return
            if failure is not None:
                failures += 1
                banned = self.note_rate_limit(failure)
                if not banned and alive and failures >= RESYNC_ATTEMPTS:
                    # The link works but the resync keeps failing: trade on, say so; the ASL's
                    # periodic reconciliation catches up.
                    self.notice(f"Resync after reconnect failed: {failure}", "warning")
                    if self.state is not EngineState.ERROR:
                        self.set_state(EngineState.READY)
                    return
                if not banned:
                    self.set_state(EngineState.CONNECTING,
                                   f"resync after reconnect failed ({failure}); retrying")
            await asyncio.sleep(next(delays))  # the connection died or the resync failed: again

    async def rollover(self) -> None:
        """Planned rollover: the new connection is up (and logged on) before the old one goes."""
        old = self.ws
        new = await self.open_ws()
        self.ws = new
        if old is not None:
            await old.drain(self.timeout_s)
            await old.close()
        self.journal.record("notice", "WS-API connection rolled over")

    async def _rollover_loop(self) -> None:
        while not self._closing:
            ws = self.ws
            opened = ws.opened_at if ws is not None else time.monotonic()
            wait = max(1.0, opened + self.rollover_after_s - time.monotonic())
            await asyncio.sleep(wait)
            if self.ws is not None and self.ws is ws:
                try:
                    await self.rollover()
                except Exception as exc:
                    self.notice(f"Planned reconnect failed, will retry: {exc}", "warning")
                    await asyncio.sleep(30)

    async def _clock_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(CLOCK_REFRESH_S)
            with contextlib.suppress(Exception):
                await self.clock.sync(self.rest)

    def start_background(self) -> None:
        self.spawn(self._rollover_loop(), "ws-rollover")
        self.spawn(self._clock_loop(), "clock-refresh")

    # -- streams ---------------------------------------------------------------------------------
    def on_market_message(self, message: dict[str, Any]) -> None:
        """Book and mark prices; a price that is not finite, positive and sane is ignored (the last
        good one stays)."""
        kind = message.get("e")
        symbol = message.get("s")
        if not isinstance(symbol, str):
            return
        if kind == "bookTicker":
            bid, ask = _price(message.get("b")), _price(message.get("a"))
            if bid is not None and ask is not None:
                self.books[symbol] = (bid, ask)
        elif kind == "markPriceUpdate":
            mark = _price(message.get("p"))
            if mark is not None:
                self.tracker.on_mark(symbol, mark)
                self.price_seen[symbol] = time.monotonic()
        # Listeners read the validated state (``books``, ``mark()``), never the raw prices.
        for listener in self.market_listeners:
            try:
                listener(message)
            except Exception:  # a listener's bug must not stop the stream
                log.exception("market listener failed")

    def on_user_message(self, message: dict[str, Any]) -> None:
        self.journal.record("stream", str(message.get("e", "")), data=message)
        self.user_events += 1
        kind = message.get("e")
        self.last_changed = []
        if kind == "ACCOUNT_UPDATE":
            self.last_changed = self.tracker.on_account_update(message)
        elif kind == "ORDER_TRADE_UPDATE":
            order = message.get("o")
            ours = isinstance(order, dict) and is_our_entry(str(order.get("c", "")))
            self.tracker.on_order_update(message, ours=ours)
            if isinstance(order, dict) and isinstance(order.get("s"), str):
                if order.get("x") in ("TRADE", "CALCULATED"):
                    # A fill: whether or not the shown amount moved, ownership may have, so the
                    # engine feeds the symbol's positions to the ASL (a LIMIT of ours filled, a
                    # late report). NEW, CANCELED and EXPIRED reports change neither.
                    self.last_changed = self.tracker.positions_of(order["s"])
                symbol, client_id = order["s"], str(order.get("c", ""))
                book = self.open_orders.setdefault(symbol, {})
                if order.get("X") in ("NEW", "PARTIALLY_FILLED"):
                    book[client_id] = order
                else:
                    book.pop(client_id, None)
        for listener in self.user_listeners:
            try:
                listener(message)
            except Exception:  # one malformed event must not drop the user stream
                log.exception("user-data listener failed")

    # -- shutdown --------------------------------------------------------------------------------
    async def close_connections(self) -> None:
        """Close the WS API and streams (before a warm-up retry); the session stays usable."""
        ws, self.ws = self.ws, None
        if ws is not None:
            ws.on_closed = None
            await ws.close()
        if self.user_stream is not None:
            await self.user_stream.stop()
            self.user_stream = None
        for stream in self.market_streams:
            await stream.stop()
        self.market_streams = []

    async def close(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.user_stream is not None:
            await self.user_stream.stop()
        for stream in self.market_streams:
            await stream.stop()
        if self.ws is not None:
            await self.ws.close()
            self.ws = None
        await self.rest.close()
