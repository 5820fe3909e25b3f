"""The hot path: a command becomes one order, built from cached state, signed, sent, answered.

Per keypress: admission (ready? in flight? cooldown? caps?) → pure build from cached filters, book
and mark price (``core.orders``) → one client id, made once → frame → journal (queued) → send.
Nothing awaits before the send except the send itself. Answers become events with two latencies:
command accepted → frame written, and frame written → response received.

Failures: the error shield decides about one rebuild-and-resend (clock, mode, filters); an unknown
outcome goes through ``outcome.resolve`` and is resent only after the exchange says -2013. One
keypress: at most one order, always.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from traytrader.core.decimals import format_decimal
from traytrader.core.entry_plan import SizedEntry
from traytrader.core.errors import (
    CommandRefused,
    ExchangeRejected,
    InvalidOrder,
    OutcomeUnknown,
    TransportError,
    TraytraderError,
)
from traytrader.core.models import OrderType, PositionSide, Profile, Side
from traytrader.core.orders import (
    ClientIds,
    OrderRequest,
    build_close_order,
    build_entry_order,
    session_tag,
)
from traytrader.engine.api import (
    Command,
    CommandDone,
    CommandKind,
    CommandRejected,
    Event,
    Notice,
    OrderAccepted,
    OrderFilled,
)
from traytrader.engine.armed import ArmedEntry, ArmInputs, EntryPath, arm, max_age_ms
from traytrader.engine.outcome import resolve
from traytrader.engine.session import Session
from traytrader.engine.shield import Shield

#: Commands that can only reduce exposure: admitted whatever else is in flight for the symbol.
REDUCE_ONLY_KINDS = frozenset({CommandKind.CLOSE, CommandKind.FLATTEN, CommandKind.CANCEL_ALL})
#: A command older than this when the engine takes it up is refused: an order the user no
#: longer expects is the worst kind (a key's command reaches the engine in well under 1 ms).
MAX_COMMAND_AGE_MS = 2_000
ORDER_KINDS = frozenset({CommandKind.BUY, CommandKind.SELL, CommandKind.CLOSE, CommandKind.FLATTEN,
                         CommandKind.REVERSE, CommandKind.CANCEL_ALL})
MAX_RESENDS = 2
# Entries are sized on the book: refuse them when the market feed (mark price every second) has
# been silent this long (F5). Closing needs no price and always works.
STALE_PRICE_S = 3.0
WARM_S = 0.05   # see Dispatcher._keep_warm


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except (InvalidOperation, ValueError):
        return Decimal(0)


@dataclass
class SendOutcome:
    result: dict[str, Any]
    wire_ns: int
    received_ns: int


class Dispatcher:
    """Executes order commands for the active profile on the engine loop."""

    def __init__(self, session: Session, emit: Callable[[Event], None], *,
                 on_filled: Callable[[OrderRequest, dict[str, Any]], None] | None = None) -> None:
        self.session = session
        self.emit = emit
        self.shield = Shield(session)
        self.on_filled = on_filled
        self.cooldown_ms = session.config.safety.cooldown_ms
        self._in_flight: dict[str, list[CommandKind]] = {}
        self._more_legs: set[int] = set()        # ids of commands whose next answer is not final
        self._flattened_ns: dict[str, int] = {}  # symbol -> when a flatten last started
        self._awaiting_answer: set[str] = set()  # client ids sent and not yet answered
        self._resting: dict[str, None] = {}      # client ids answered as resting (not yet filled)
        self._last: dict[tuple[str, CommandKind], int] = {}
        self._client_ids = ClientIds("tt", session.clock.now_ms(), session_tag(os.urandom(4)))
        self._entry_paths: dict[tuple[str, Side], EntryPath] = {}
        self._armed: dict[Side, ArmedEntry] = {}
        self._arm_pending = False
        self._refresh: asyncio.TimerHandle | None = None
        self._warm: asyncio.TimerHandle | None = None
        self._max_age_ms = max_age_ms(session.config.exchange.recv_window_ms)
        self.active: Profile | None = None   # the profile whose entries are kept armed
        self.last_latency_us: float | None = None
        self.frame_ready_ns = 0
        # Average fill prices from ORDER_TRADE_UPDATE, for answers without avgPrice/cumQuote (the
        # order.place result schema dropped both in SDK 14.0.0, 2026-07-15; protocol notes §5).
        self._fill_waiters: dict[str, asyncio.Future[Decimal]] = {}
        self._recent_fills: dict[str, Decimal] = {}   # the stream may be faster than the answer
        self._fees: dict[str, tuple[Decimal, str]] = {}   # client id → (commission, asset), from trades
        session.user_listeners.append(self._on_user_message)
        session.ready_listeners.append(lambda: self.prime(session.config.profiles))
        session.market_listeners.append(self._on_market_message)

    # -- admission -------------------------------------------------------------------------------
    def admit(self, command: Command, profile: Profile) -> str | None:
        """``None`` if the command may run now, else the sentence refusing it. Synchronous, so two
        presses handled back to back on the loop see each other.

        A command that reaches the engine late is refused, never executed late. Reduce-only
        commands (close, flatten, cancel) are admitted while another command for the symbol is
        in flight or its outcome is being resolved: the panic button works exactly then."""
        session = self.session
        age_ms = (time.perf_counter_ns() - command.accepted_ns) / 1e6
        if age_ms > MAX_COMMAND_AGE_MS:
            return (f"Refused: the {command.kind.value} command reached the engine "
                    f"{age_ms / 1000:.1f} s after it was given; nothing was sent.")
        if not session.ready:
            return f"Not ready to trade: the engine is {session.state.value}" + (
                f" ({session.detail})." if session.detail else ".")
        symbol = profile.symbol
        now = time.monotonic_ns() // 1_000_000
        busy = self._in_flight.get(symbol)
        if busy and command.kind not in REDUCE_ONLY_KINDS:
            return (f"Refused: a {busy[0].value} order for {symbol} is still in flight; "
                    "nothing was sent.")
        last = self._last.get((symbol, command.kind))
        if last is not None and now - last < self.cooldown_ms:
            return (f"Refused: {command.kind.value} pressed again within the {self.cooldown_ms} ms cooldown "
                    f"for {symbol}; nothing was sent.")
        return None

    def next_client_id(self) -> str:
        return self._client_ids.next()

    def prime(self, profiles: tuple[Profile, ...] | list[Profile]) -> None:
        """Prepare every profile's BUY and SELL entry now (the session just became ready), so the
        first keypress finds its plan and frame template made; arm the active profile's."""
        for profile in profiles:
            for side in (Side.BUY, Side.SELL):
                with contextlib.suppress(TraytraderError):   # that profile's keypress says why
                    self._entry_path(profile, side)
        self.schedule_arming()

    def set_active(self, profile: Profile) -> None:
        """The profile a keypress will use: its entries are the ones kept armed."""
        self.active = profile
        self._armed.clear()
        self.schedule_arming()

    def _entry_path(self, profile: Profile, side: Side) -> EntryPath | None:
        """The prepared entry for (profile, side), rebuilt when its inputs changed; None when the
        plan cannot be made (the keypress then takes the full builder, which names the reason)."""
        session = self.session
        ws = session.ws
        if ws is None:
            return None
        filters = session.filters(profile.symbol)
        key = (profile.name, side)
        path = self._entry_paths.get(key)
        if path is not None and path.current(profile, filters, session.mode, ws.frames):
            return path
        path = EntryPath.prepare(profile, side, filters, session.mode, ws.frames)
        if path is not None:
            self._entry_paths[key] = path
        return path

    def _on_market_message(self, message: dict[str, Any]) -> None:
        active = self.active
        if active is not None and message.get("s") == active.symbol:
            self.schedule_arming()

    def schedule_arming(self) -> None:
        """Re-arm the active profile's entries soon, once however many prices arrive meanwhile.
        Two hops: whatever the current callback started (the ASL's stop replacement on a new mark
        price) runs first."""
        if self._arm_pending or self.active is None:
            return
        self._arm_pending = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:   # not on the engine loop (tests building a dispatcher by hand)
            self._arm_pending = False
            return
        loop.call_soon(loop.call_soon, self._arm_active)

    def _arm_active(self) -> None:
        """Arm both sides of the active profile where the armed entry no longer matches the prices
        or is half its allowed age; then again in half that age, so a quiet market keeps a
        fresh frame too."""
        self._arm_pending = False
        profile, session = self.active, self.session
        if profile is None or not session.ready:
            return
        half_age = self._max_age_ms // 2
        for side in (Side.BUY, Side.SELL):
            armed = self._armed.get(side)
            try:
                inputs = self._inputs(profile, side)
                if inputs is None:
                    armed = None
                elif armed is None or not armed.matches(inputs, half_age):
                    armed = None
                    sized = inputs.path.plan.size(inputs.book[0], inputs.book[1], inputs.mark)
                    now_ms = session.clock.now_ms()
                    # The caps before signing; the keypress checks them again and says why.
                    if sized is not None and session.limiter.refuse_order(now_ms, sized.notional) is None:
                        armed = self._arm(inputs, sized, now_ms)
            except TraytraderError:
                armed = None
            if armed is None:
                self._armed.pop(side, None)
            else:
                self._armed[side] = armed
        if self._refresh is not None:
            self._refresh.cancel()
        self._refresh = asyncio.get_running_loop().call_later(half_age / 1000, self.schedule_arming)
        if self._warm is None:
            self._warm = asyncio.get_running_loop().call_later(WARM_S, self._keep_warm)

    def _keep_warm(self) -> None:
        """Walk the keypress's checks without sending or consuming anything (the armed entry's
        match, the caps) every ``WARM_S``, so the code and data they touch stay in the CPU caches
        between a trader's sporadic keys: with keys 250 ms apart, accepted → frame ready fell from
        ~99 to ~39 µs and → wire from ~192 to ~147 µs, for no measurable idle CPU
        (``bench_engine.py --gap-ms 250``, ``bench_idle.py``)."""
        self._warm = None
        profile, session = self.active, self.session
        if profile is None or not session.ready:
            return
        for side in (Side.BUY, Side.SELL):
            armed = self._armed.get(side)
            inputs = self._inputs(profile, side)
            if armed is not None and inputs is not None and armed.matches(inputs, self._max_age_ms):
                session.limiter.refuse_order(session.clock.now_ms(), armed.sized.notional)
        self._warm = asyncio.get_running_loop().call_later(WARM_S, self._keep_warm)

    def _inputs(self, profile: Profile, side: Side) -> ArmInputs | None:
        """What an entry is armed from, or None when something is missing or the price is stale
        (the full builder then says why)."""
        session = self.session
        symbol = profile.symbol
        path = self._entry_path(profile, side)
        ws = session.ws
        book, mark = session.books.get(symbol), session.tracker.marks.get(symbol)
        if path is None or ws is None or book is None or mark is None \
                or (session.price_age_s(symbol) or 0.0) > STALE_PRICE_S:
            return None
        return ArmInputs(path, book, mark, ws.frames.logged_on, ws)

    def _arm(self, inputs: ArmInputs, sized: SizedEntry, now_ms: int) -> ArmedEntry:
        """Sign and frame ``sized`` with a new client id and request id (caps already checked)."""
        return arm(inputs, sized, self._client_ids.next(), inputs.ws.ids.next(), now_ms)

    async def execute(self, command: Command, profile: Profile) -> None:
        """Run one command to its end, emitting exactly one final answer for it (``_answer``)."""
        refusal = self.admit(command, profile)
        if refusal is not None:
            self.session.journal.record("command", f"{command.kind.value} refused: {refusal}",
                                        symbol=profile.symbol)
            self._answer(command, CommandRejected(refusal, command=command.kind))
            return
        symbol = profile.symbol
        self._in_flight.setdefault(symbol, []).append(command.kind)
        self._last[(symbol, command.kind)] = time.monotonic_ns() // 1_000_000
        try:
            if command.kind is CommandKind.BUY:
                await self._entry(command, profile, Side.BUY)
            elif command.kind is CommandKind.SELL:
                await self._entry(command, profile, Side.SELL)
            elif command.kind is CommandKind.CLOSE:
                await self._close(command, profile)
            elif command.kind is CommandKind.CANCEL_ALL:
                await self._cancel_all(command, profile)
            elif command.kind is CommandKind.FLATTEN:
                await self._flatten(command, profile)
            elif command.kind is CommandKind.REVERSE:
                await self._reverse(command, profile)
        except TraytraderError as exc:
            text = str(exc)
            if isinstance(exc, ExchangeRejected) and not exc.explanation:
                # A REST answer (cancels) has not been through the shield: a 429/418 holds here too.
                text = self.shield.hold(exc, symbol) or text
            self.session.journal.record("command", f"{command.kind.value} failed: {text}", symbol=symbol)
            self._more_legs.discard(command.id)
            self._answer(command, CommandRejected(text, command=command.kind,
                                                  code=getattr(exc, "code", None)))
        finally:
            kinds = self._in_flight.get(symbol, [])
            if command.kind in kinds:
                kinds.remove(command.kind)
            if not kinds:
                self._in_flight.pop(symbol, None)
            self._more_legs.discard(command.id)

    def _answer(self, command: Command, event: Event) -> None:
        """Emit an answer to ``command``: its final one unless the command has another leg to go
        (a reverse's close, a flatten's close before its cancels)."""
        self.emit(dataclasses.replace(event, command_id=command.id, final=command.id not in self._more_legs))

    # -- commands --------------------------------------------------------------------------------
    def _build_entry(self, profile: Profile, side: Side, client_id: str) -> OrderRequest:
        session = self.session
        book = session.book(profile.symbol)
        mark = session.mark(profile.symbol)
        if book is None or mark is None:
            raise InvalidOrder(f"There is no price for {profile.symbol} yet; wait for the market stream.")
        age = session.price_age_s(profile.symbol)
        if age is not None and age > STALE_PRICE_S:
            raise CommandRefused(f"The {profile.symbol} price is {age:.0f} s old (the market stream "
                                 "stalled); nothing was sent, try again in a moment.")
        return build_entry_order(profile, side, session.filters(profile.symbol), book[0], book[1], mark,
                                 session.mode, client_id)

    async def _entry(self, command: Command, profile: Profile, side: Side) -> None:
        """The entry armed for this keypress if nothing changed since, else one armed now; the
        full builder when neither can be (it raises the sentence saying why)."""
        try:
            armed = self._armed_for(profile, side)
        except TraytraderError:
            self.schedule_arming()
            raise
        if armed is None:
            self.schedule_arming()
            await self._entry_slow(command, profile, side)
            return
        session = self.session
        request = armed.request
        symbol, client_id = request.symbol, request.client_order_id

        def command_row() -> None:
            session.journal.record("command", command.kind.value, symbol=symbol, client_id=client_id,
                                   data={"profile": profile.name, "source": command.source})

        try:
            outcome = await self.place(request, command.accepted_ns,
                                       rebuild=lambda: self._build_entry(profile, side, client_id),
                                       first_row=command_row,
                                       first=(armed.request_id, armed.frame, armed.timestamp, armed.encoded))
        finally:
            self.schedule_arming()   # the next keypress finds its entry armed again
        await self._complete_price(request, outcome)
        self._report(command, request, outcome)
        await self._after_flatten(command, request, outcome.result)

    def _armed_for(self, profile: Profile, side: Side) -> ArmedEntry | None:
        """This keypress's entry, the caps checked: the armed one when its inputs are unchanged,
        else armed now. None: the full builder decides (no plan, no price, a stale price, a failed
        filter check). Raises ``CommandRefused`` when a cap refuses it."""
        armed = self._armed.pop(side, None)
        inputs = self._inputs(profile, side)
        if inputs is None:
            return None
        if armed is not None and armed.matches(inputs, self._max_age_ms):
            sized = armed.sized
        else:
            armed, sized = None, inputs.path.plan.size(inputs.book[0], inputs.book[1], inputs.mark)
            if sized is None:
                return None
        session = self.session
        now_ms = session.clock.now_ms()
        refusal = session.limiter.refuse_order(now_ms, sized.notional)
        if refusal is not None:
            raise CommandRefused(refusal)
        return armed if armed is not None else self._arm(inputs, sized, now_ms)

    async def _entry_slow(self, command: Command, profile: Profile, side: Side) -> None:
        """The full builder: every check with its sentence (a refused entry, a stale price, or an
        entry the plan does not cover)."""
        session = self.session
        client_id = self.next_client_id()
        request = self._build_entry(profile, side, client_id)
        book = session.book(profile.symbol)
        reference = request.price or (book[1] if side is Side.BUY else book[0]) if book else Decimal(0)
        refusal = session.limiter.refuse_order(session.clock.now_ms(), request.quantity * reference)
        if refusal is not None:
            raise CommandRefused(refusal)

        def command_row() -> None:
            session.journal.record("command", command.kind.value, symbol=profile.symbol, client_id=client_id,
                                   data={"profile": profile.name, "source": command.source})

        outcome = await self.place(request, command.accepted_ns,
                                   rebuild=lambda: self._build_entry(profile, side, client_id),
                                   first_row=command_row)
        await self._complete_price(request, outcome)
        self._report(command, request, outcome)
        await self._after_flatten(command, request, outcome.result)

    async def _close(self, command: Command, profile: Profile) -> None:
        session = self.session
        positions = session.tracker.open_positions(profile.symbol)
        if not positions:
            self._answer(command, CommandDone(f"Nothing to close: no {profile.symbol} position.",
                                              command=command.kind))
            return
        for position in positions:
            client_id = self.next_client_id()
            request = self._close_request(profile.symbol, position.quantity, position.position_side,
                                          client_id)
            refusal = session.limiter.refuse_order(session.clock.now_ms(), None, reduce_only=True)
            if refusal is not None:
                raise CommandRefused(refusal)
            outcome = await self.place(request, command.accepted_ns,
                                       rebuild=self._close_rebuilder(profile.symbol, client_id),
                                       first_row=lambda client_id=client_id: session.journal.record(
                                           "command", command.kind.value, symbol=profile.symbol,
                                           client_id=client_id))
            await self._complete_price(request, outcome)
            self._report(command, request, outcome)

    def _close_request(self, symbol: str, quantity: Decimal, position_side: PositionSide,
                       client_id: str) -> OrderRequest:
        return build_close_order(symbol, quantity, position_side, self.session.filters(symbol),
                                 self.session.mode, client_id)

    def _close_rebuilder(self, symbol: str, client_id: str) -> Callable[[], OrderRequest]:
        """Rebuild a close after the mode or filters were re-read (same client id)."""
        def rebuild() -> OrderRequest:
            positions = self.session.tracker.open_positions(symbol)
            if not positions:
                raise CommandRefused(f"The {symbol} position is already closed.")
            return self._close_request(symbol, positions[0].quantity, positions[0].position_side, client_id)
        return rebuild

    async def close_position(self, symbol: str, position_side: PositionSide,
                             quantity: Decimal) -> dict[str, Any]:
        """Reduce-only market close for the ASL (``quantity`` unsigned)."""
        self._refuse_while_held()
        position = self.session.tracker.get(symbol, position_side)
        short = position.quantity < 0 or position_side is PositionSide.SHORT
        client_id = self.next_client_id()
        request = self._close_request(symbol, -quantity if short else quantity, position_side, client_id)
        outcome = await self.place(request, time.perf_counter_ns(),
                                   rebuild=self._close_rebuilder(symbol, client_id))
        self._apply_fill(request, outcome.result)
        return outcome.result

    async def _cancel_all(self, command: Command, profile: Profile) -> None:
        symbol = profile.symbol
        await self._cancel_orders(symbol)
        await self._cancel_algos(symbol)
        self._answer(command, CommandDone(f"Cancelled all open orders and stops for {symbol}.",
                                          command=command.kind))

    def _refuse_while_held(self) -> None:
        """During a 429/418 hold every request lengthens it: cancels and the ASL's closes wait too."""
        hold = self.session.limiter.held(self.session.clock.now_ms())
        if hold is not None:
            raise CommandRefused(hold.reason)

    async def _cancel_orders(self, symbol: str) -> None:
        self._refuse_while_held()
        await self.session.rest_call("DELETE", "/fapi/v1/allOpenOrders", {"symbol": symbol})
        self.session.open_orders.pop(symbol, None)

    async def _cancel_algos(self, symbol: str) -> None:
        self._refuse_while_held()
        await self.session.rest_call("DELETE", "/fapi/v1/algoOpenOrders", {"symbol": symbol})

    async def _reverse(self, command: Command, profile: Profile) -> None:
        positions = self.session.tracker.open_positions(profile.symbol)
        if not positions:
            raise CommandRefused(f"There is no {profile.symbol} position to reverse.")
        long = sum(p.quantity for p in positions) > 0
        self._more_legs.add(command.id)
        await self._close(command, profile)
        self._more_legs.discard(command.id)
        await self._entry(command, profile, Side.SELL if long else Side.BUY)

    async def _flatten(self, command: Command, profile: Profile) -> None:
        """Resting orders go first (nothing new may open), the position next while its stop still
        protects it, the stops last (the ASL also cancels its own once flat). An entry still in
        flight when the flatten began is closed too when it fills (``_after_flatten``)."""
        symbol = profile.symbol
        self._flattened_ns[symbol] = command.accepted_ns
        await self._cancel_orders(symbol)
        had_position = bool(self.session.tracker.open_positions(symbol))
        if had_position:
            self._more_legs.add(command.id)
            await self._close(command, profile)
            self._more_legs.discard(command.id)
        await self._cancel_algos(symbol)
        self._answer(command, CommandDone(
            f"Flattened {symbol}: " + ("position closed, " if had_position else "no position; ")
            + "open orders and stops cancelled.", command=command.kind))

    async def _after_flatten(self, command: Command, request: OrderRequest, result: dict[str, Any]) -> None:
        """An entry that was in flight when a flatten of its symbol began and filled anyway: close
        it at once (reduce-only) rather than leave the user a position they just flattened."""
        started = self._flattened_ns.get(request.symbol)
        if started is None or started < command.accepted_ns or not _dec(result.get("executedQty")):
            return
        position = self.session.tracker.get(request.symbol, request.position_side)
        if position.quantity:
            self.emit(Notice(f"{request.symbol}: the {request.side.value.lower()} in flight during the "
                             "flatten filled afterwards; closing it now.", level="warning"))
            with contextlib.suppress(TraytraderError):
                await self.close_position(request.symbol, request.position_side, abs(position.quantity))

    # -- sending ---------------------------------------------------------------------------------
    async def place(self, request: OrderRequest, accepted_ns: int,
                    rebuild: Callable[[], OrderRequest] | None = None,
                    first_row: Callable[[], None] | None = None,
                    first: tuple[str, str, int, bytes | None] | None = None) -> SendOutcome:
        """Send ``request`` (once; at most one order per client id) and return its answer.
        ``first_row`` journals the command: after the first write, or when nothing was sent.
        ``first`` (request id, frame, timestamp, encoded frame) is the first attempt already framed
        (an armed entry: its request id comes from the current connection); its params for the
        journal are computed after the write."""
        session = self.session
        client_id = request.client_order_id
        retried = False
        resends = 0
        self._awaiting_answer.add(client_id)
        try:
            while True:
                ws = session.ws
                if ws is None or not ws.connected:
                    raise TransportError("Not connected to the exchange; nothing was sent.")
                encoded = None
                if first is not None:
                    request_id, frame, timestamp, encoded = first
                    first = None
                    params = None
                else:
                    request_id = ws.ids.next()
                    params = request.params()
                    timestamp = session.clock.now_ms()
                    frame = ws.frames.build(request_id, "order.place", params, timestamp)

                # Bookkeeping runs right after the write (the caps were checked before signing): the
                # request row (params only: the frame's key and signature never reach the journal) and
                # the limiter's count. ``first_row`` is the command's own row, written just before it.
                def sent(request_id: str = request_id, params: dict[str, str] | None = params,
                         timestamp: int = timestamp, request: OrderRequest = request) -> None:
                    nonlocal first_row
                    if first_row is not None:
                        first_row()
                        first_row = None
                    session.journal.record("request", "order.place", symbol=request.symbol,
                                           client_id=client_id, request_id=request_id,
                                           data=params if params is not None else request.params())
                    session.limiter.record_order(timestamp)

                self.frame_ready_ns = time.perf_counter_ns()  # attribution: our work ends, the write begins
                try:
                    reply = await ws.send_frame(request_id, "order.place", frame, sent, encoded)
                except ExchangeRejected as exc:
                    session.journal.record("response", f"order.place rejected: {exc.code} {exc.msg}",
                                           symbol=request.symbol, client_id=client_id, request_id=request_id,
                                           data={"code": exc.code, "msg": exc.msg, "status": exc.http_status})
                    verdict = await self.shield.react(exc, symbol=request.symbol, retried=retried)
                    if verdict.retry:
                        retried = True
                        if rebuild is not None:
                            request = rebuild()
                        continue
                    raise ExchangeRejected(exc.code, exc.msg, http_status=exc.http_status,
                                           explanation=verdict.text,
                                           retry_until_ms=exc.retry_until_ms) from None
                except OutcomeUnknown as exc:
                    session.journal.record("response", f"order.place outcome unknown: {exc}",
                                           symbol=request.symbol, client_id=client_id, request_id=request_id)
                    self.emit(Notice(f"{request.symbol}: no answer to order {client_id}; checking with the "
                                     "exchange before doing anything else.", level="warning"))
                    resolution = await resolve(session, request.symbol, client_id, timestamp)
                    if resolution.exists:
                        now = time.perf_counter_ns()
                        session.journal.record("resolution", "order exists", symbol=request.symbol,
                                               client_id=client_id, data=resolution.order)
                        return SendOutcome(resolution.order or {}, now, now)
                    session.journal.record("resolution", "order does not exist (-2013); sending it again",
                                           symbol=request.symbol, client_id=client_id)
                    resends += 1
                    if resends > MAX_RESENDS:
                        raise OutcomeUnknown(f"Order {client_id} could not be delivered after {resends} "
                                             "attempts; it did not execute.") from None
                    continue
                session.journal.record("response", "order.place", symbol=request.symbol, client_id=client_id,
                                       request_id=request_id, data=reply.result,
                                       latency_us=(reply.received_ns - reply.wire_ns) / 1000)
                self.last_latency_us = (reply.wire_ns - accepted_ns) / 1000
                return SendOutcome(reply.result if isinstance(reply.result, dict) else {}, reply.wire_ns,
                                   reply.received_ns)
        finally:
            self._awaiting_answer.discard(client_id)
            if first_row is not None:  # nothing was sent: the command row still lands
                first_row()

    # -- results ---------------------------------------------------------------------------------
    FILL_PRICE_WAIT_S = 1.0

    def _on_user_message(self, message: dict[str, Any]) -> None:
        order = message.get("o")
        if message.get("e") != "ORDER_TRADE_UPDATE" or not isinstance(order, dict):
            return
        client_id = str(order.get("c", ""))
        if order.get("x") == "TRADE" and isinstance(order.get("N"), str):
            # Commission per trade ("n", in asset "N"): an order's fee is the sum of its trades'.
            paid, asset = self._fees.get(client_id, (Decimal(0), order["N"]))
            self._fees[client_id] = (paid + _dec(order.get("n")), asset)
            if len(self._fees) > 64:
                del self._fees[next(iter(self._fees))]
        average = _dec(order.get("ap"))
        if order.get("x") == "TRADE" and client_id in self._resting \
                and client_id not in self._awaiting_answer:
            self._report_later_fill(order, client_id, average)
        if order.get("X") in ("FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED"):
            self._resting.pop(client_id, None)
        if order.get("X") != "FILLED" or average <= 0:
            return
        self._recent_fills[client_id] = average
        if len(self._recent_fills) > 64:
            del self._recent_fills[next(iter(self._recent_fills))]
        waiter = self._fill_waiters.get(client_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(average)

    def _report_later_fill(self, order: dict[str, Any], client_id: str, average: Decimal) -> None:
        """A fill of one of our orders whose answer came earlier (a LIMIT that rested): say so. The
        position and its protection follow from the same event (``Session`` / the engine)."""
        symbol = str(order.get("s", ""))
        try:
            side = Side(str(order.get("S")))
        except ValueError:
            return
        filled, total = _dec(order.get("z")), _dec(order.get("q"))
        word = "Bought" if side is Side.BUY else "Sold"
        if order.get("X") == "FILLED":
            paid = self._fees.get(client_id)
            fee_text = f", fee {format_decimal(paid[0])} {paid[1]}" if paid is not None else ""
            text = (f"{word} {format_decimal(filled)} {symbol} at {format_decimal(average)}: the resting "
                    f"order filled{fee_text}.")
            self.session.journal.record("event", text, symbol=symbol, client_id=client_id)
            self.emit(OrderFilled(text, symbol=symbol, side=side, quantity=filled, avg_price=average,
                                  fee=paid[0] if paid is not None else None, client_order_id=client_id))
        else:
            text = (f"{symbol}: the resting {side.value.lower()} order filled {format_decimal(filled)} of "
                    f"{format_decimal(total)} so far, at {format_decimal(average)} on average.")
            self.session.journal.record("event", text, symbol=symbol, client_id=client_id)
            self.emit(Notice(text))

    async def _complete_price(self, request: OrderRequest, outcome: SendOutcome) -> None:
        """Fill in ``avgPrice`` from the user stream when the answer lacks it."""
        result = outcome.result
        priced = _dec(result.get("avgPrice")) or _dec(result.get("cumQuote"))
        if priced or not _dec(result.get("executedQty")):
            return
        known = self._recent_fills.get(request.client_order_id)
        if known is not None:
            result["avgPrice"] = str(known)
            return
        waiter = asyncio.get_running_loop().create_future()
        self._fill_waiters[request.client_order_id] = waiter
        try:
            result["avgPrice"] = str(await asyncio.wait_for(waiter, self.FILL_PRICE_WAIT_S))
        except TimeoutError:
            pass
        finally:
            self._fill_waiters.pop(request.client_order_id, None)

    def _apply_fill(self, request: OrderRequest, result: dict[str, Any]) -> tuple[Decimal, Decimal]:
        executed = _dec(result.get("executedQty"))
        avg = _dec(result.get("avgPrice"))
        if avg == 0 and executed:
            avg = _dec(result.get("cumQuote")) / executed
        if executed:
            position_side = PositionSide(str(result.get("positionSide", request.position_side.value)))
            self.session.tracker.apply_fill(request.symbol, position_side, request.side, executed, avg,
                                            int(result.get("updateTime") or 0),
                                            ours=not request.reduce_only, order_id=result.get("orderId"),
                                            client_order_id=request.client_order_id)
        return executed, avg

    def _report(self, command: Command, request: OrderRequest, outcome: SendOutcome) -> None:
        result = outcome.result
        executed, avg = self._apply_fill(request, result)
        to_wire = (outcome.wire_ns - command.accepted_ns) / 1000
        round_trip = (outcome.received_ns - outcome.wire_ns) / 1000
        status = str(result.get("status", ""))
        side_word = "Bought" if request.side is Side.BUY else "Sold"
        if executed:
            # The fee is known when the order's trades came on the user stream before its answer.
            paid = self._fees.get(request.client_order_id)
            fee_text = f", fee {format_decimal(paid[0])} {paid[1]}" if paid is not None else ""
            text = (f"{side_word} {format_decimal(executed)} {request.symbol} at {format_decimal(avg)} "
                    f"({to_wire:.0f} µs to wire, {round_trip / 1000:.1f} ms round trip{fee_text}).")
            self.session.journal.record("event", text, symbol=request.symbol,
                                        client_id=request.client_order_id, latency_us=to_wire)
            if self.on_filled is not None:   # protection first: the ASL starts the stop now
                self.on_filled(request, result)
            self._answer(command, OrderFilled(text, symbol=request.symbol, side=request.side,
                                              quantity=executed, avg_price=avg,
                                              fee=paid[0] if paid is not None else None,
                                              client_order_id=request.client_order_id,
                                              to_wire_us=to_wire, round_trip_us=round_trip))
            return
        if request.type is OrderType.MARKET and status in ("EXPIRED", "CANCELED", "EXPIRED_IN_MATCH"):
            text = f"The {request.side.value.lower()} order for {request.symbol} expired unfilled ({status})."
            self._answer(command, CommandRejected(text, command=command.kind))
            return
        self._resting[request.client_order_id] = None   # its fills are announced as they come
        if len(self._resting) > 256:
            del self._resting[next(iter(self._resting))]
        text = (f"{request.side.value.title()} {format_decimal(request.quantity)} {request.symbol} accepted"
                + (f" at {format_decimal(request.price)}" if request.price is not None else "")
                + f" ({status or 'NEW'}).")
        self.session.journal.record("event", text, symbol=request.symbol, client_id=request.client_order_id,
                                    latency_us=to_wire)
        self._answer(command, OrderAccepted(text, symbol=request.symbol, side=request.side,
                                            quantity=request.quantity, price=request.price,
                                            client_order_id=request.client_order_id,
                                            to_wire_us=to_wire, round_trip_us=round_trip))
