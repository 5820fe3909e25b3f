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
from decimal import Decimal
from typing import Any

from traytrader.core.asl_toolkit import DEFAULT_TAKER_FEE_RATE
from traytrader.core.errors import (
    CommandRefused,
    ExchangeRejected,
    InvalidOrder,
    TraytraderError,
)
from traytrader.core.models import PositionSide, Profile, Side
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
)
from traytrader.engine.armed import ArmedEntry, EntryPath, max_age_ms
from traytrader.engine.entry_arming import STALE_PRICE_S, EntryArming
from traytrader.engine.fill_reports import FillReporting, _dec
from traytrader.engine.order_sending import Fired, OrderSending
from traytrader.engine.position_commands import PositionCommands
from traytrader.engine.session import Session
from traytrader.engine.shield import Shield

#: Commands that can only reduce exposure: admitted whatever else is in flight for the symbol.
REDUCE_ONLY_KINDS = frozenset({CommandKind.CLOSE, CommandKind.FLATTEN, CommandKind.CANCEL_ALL,
                               CommandKind.BREAKEVEN})
#: Commands whose final answer repeats their earlier legs' (a reverse's close; a hedge-mode close of
#: both sides). A flatten's names what it did in its own words.
TOLD_LEG_BY_LEG = frozenset({CommandKind.REVERSE, CommandKind.CLOSE})
#: A command older than this when the engine takes it up is refused: an order the user no
#: longer expects is the worst kind (a key's command reaches the engine in well under 1 ms).
MAX_COMMAND_AGE_MS = 2_000


class Dispatcher(EntryArming, OrderSending, FillReporting, PositionCommands):
    """Executes order commands for the active profile on the engine loop. Its jobs by file:
    admission and the commands here; armed entries (``entry_arming``), sending one order
    (``order_sending``), fills and their sentences (``fill_reports``), breakeven, partial close,
    add and risk sizing (``position_commands``)."""

    def __init__(self, session: Session, emit: Callable[[Event], None], *,
                 on_filled: Callable[[OrderRequest, dict[str, Any]], None] | None = None) -> None:
        self.session = session
        self.emit = emit
        self.shield = Shield(session)
        self.on_filled = on_filled
        self.cooldown_ms = session.config.safety.cooldown_ms
        self._in_flight: dict[str, list[CommandKind]] = {}
        self._more_legs: set[int] = set()        # ids of commands whose next answer is not final
        self._first_legs: dict[int, list[str]] = {}   # command id → its earlier legs' answers
        self._flattened_ns: dict[str, int] = {}  # symbol -> when a flatten last started
        self._awaiting_answer: set[str] = set()  # client ids sent and not yet answered
        self._resting: dict[str, str] = {}       # client id -> symbol, answered as resting (not filled)
        self._last: dict[tuple[str, CommandKind], int] = {}
        self._client_ids = ClientIds("tt", session.clock.now_ms(), session_tag(os.urandom(4)))
        self._entry_paths: dict[tuple[str, Side], EntryPath] = {}
        self._armed: dict[Side, ArmedEntry] = {}
        self._arm_pending = False
        self._refresh: asyncio.TimerHandle | None = None
        self._warm: asyncio.TimerHandle | None = None
        self._priming: asyncio.TimerHandle | None = None   # see EntryArming.prime_key_path
        self._primed_until = 0.0
        self._walk_also: Callable[[], None] | None = None
        self._max_age_ms = max_age_ms(session.config.exchange.recv_window_ms)
        self.active: Profile | None = None   # the profile whose entries are kept armed
        self.last_latency_us: float | None = None
        self.frame_ready_ns = 0
        # Average fill prices from ORDER_TRADE_UPDATE, for answers without avgPrice/cumQuote (the
        # order.place result schema dropped both in SDK 14.0.0, 2026-07-15; protocol notes §5).
        self._fill_waiters: dict[str, asyncio.Future[Decimal]] = {}
        self._recent_fills: dict[str, Decimal] = {}   # the stream may be faster than the answer
        self._fees: dict[str, tuple[Decimal, str]] = {}   # client id → (commission, asset), from trades
        self.asl: Any = None                      # the ASL driver, set by the engine (breakeven)
        self._fee_rate = DEFAULT_TAKER_FEE_RATE   # the account's taker rate, once a fill tells it
        self._wallet: Decimal | None = None       # USDT wallet balance (risk_pct)
        self._sized_profiles: dict[str, tuple[Profile, Decimal | None, Profile]] = {}
        self._realized: dict[str, tuple[Decimal, Decimal]] = {}  # client id → (realised PnL, its quantity)
        self._entries: dict[tuple[str, PositionSide], Decimal] = {}  # last entry of each open position
        session.user_listeners.append(self._on_user_message)
        session.ready_listeners.append(lambda: self.prime(session.config.profiles))
        if any(p.risk_pct is not None for p in session.config.profiles):
            session.ready_listeners.append(lambda: session.spawn(self.read_wallet(), "read-wallet"))
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

    def take_up(self, command: Command, symbol: str) -> None:
        """An admitted command is in flight from now (what ``admit`` checks for the next one)."""
        self._in_flight.setdefault(symbol, []).append(command.kind)
        self._last[(symbol, command.kind)] = time.monotonic_ns() // 1_000_000

    def next_client_id(self) -> str:
        return self._client_ids.next()

    async def execute(self, command: Command, profile: Profile, fired: Fired | None = None) -> None:
        """Run one command to its end, emitting exactly one final answer for it (``_answer``).
        ``fired``: an entry already admitted and written on the key path (``fire``)."""
        symbol = profile.symbol
        if fired is None:
            refusal = self.admit(command, profile)
            if refusal is not None:
                self.session.journal.record("command", f"{command.kind.value} refused: {refusal}",
                                            symbol=symbol)
                self._answer(command, CommandRejected(refusal, command=command.kind))
                return
            self.take_up(command, symbol)
        try:
            if command.kind is CommandKind.BUY:
                await self._entry(command, profile, Side.BUY, fired)
            elif command.kind is CommandKind.SELL:
                await self._entry(command, profile, Side.SELL, fired)
            elif command.kind is CommandKind.CLOSE:
                if not command.argument or not await self._close_part(command, profile, command.argument):
                    await self._close(command, profile)
            elif command.kind is CommandKind.BREAKEVEN:
                await self._breakeven(command, profile)
            elif command.kind is CommandKind.ADD:
                await self._add(command, profile)
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
        (a reverse's close, a flatten's close before its cancels). A reverse's final answer tells
        every leg: it is all ``traytrader order`` and ``send`` print (``TOLD_LEG_BY_LEG``)."""
        final = command.id not in self._more_legs
        if not final:
            self._first_legs.setdefault(command.id, []).append(event.text)
        else:
            legs = [*self._first_legs.pop(command.id, ()), event.text]
            if len(legs) > 1 and command.kind in TOLD_LEG_BY_LEG:
                symbol = getattr(event, "symbol", "") or "the position"
                told = " ".join(f"{i}/{len(legs)}: {text}" for i, text in enumerate(legs, 1))
                event = dataclasses.replace(event, text=f"{command.kind.value.title()} {symbol} {told}")
        self.emit(dataclasses.replace(event, command_id=command.id, final=final))

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
        if profile.risk_sized:   # the risk sentence when the size is below the minimum
            self.check_risk_minimum(profile, book[1] if side is Side.BUY else book[0])
        return build_entry_order(self.sized_profile(profile), side, session.filters(profile.symbol), book[0],
                                 book[1], mark, session.mode, client_id)

    async def _entry(self, command: Command, profile: Profile, side: Side,
                     fired: Fired | None = None) -> None:
        """The entry armed for this keypress if nothing changed since, else one armed now; the
        full builder when neither can be (it raises the sentence saying why). ``fired``: the
        armed entry was already written on the key path (``fire``); its answer is awaited."""
        if fired is not None:
            request = fired.request
            kwargs: dict[str, Any] = {"fired": fired}
        else:
            if profile.risk_pct is not None and self._wallet is None:
                await self.read_wallet()   # the first key before the start's read answered
            try:
                armed = self._armed_for(profile, side)
            except TraytraderError:
                self.schedule_arming()
                raise
            if armed is None:
                self.schedule_arming()
                await self._entry_slow(command, profile, side)
                return
            request = armed.request
            kwargs = {"first_row": self.command_row(command, profile, request.client_order_id),
                      "first": (armed.request_id, armed.frame, armed.timestamp, armed.encoded)}
        client_id = request.client_order_id
        try:
            outcome = await self.place(request, command.accepted_ns,
                                       rebuild=lambda: self._build_entry(profile, side, client_id), **kwargs)
        finally:
            self.schedule_arming()   # the next keypress finds its entry armed again
        await self._complete_price(request, outcome)
        self._report(command, request, outcome)
        await self._after_flatten(command, request, outcome.result)

    def command_row(self, command: Command, profile: Profile, client_id: str) -> Callable[[], None]:
        """The command's journal row, written once its order is on the wire (or nothing was sent)."""
        journal = self.session.journal

        def row() -> None:
            journal.record("command", command.kind.value, symbol=profile.symbol, client_id=client_id,
                           data={"profile": profile.name, "source": command.source})

        return row

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

        outcome = await self.place(request, command.accepted_ns,
                                   rebuild=lambda: self._build_entry(profile, side, client_id),
                                   first_row=self.command_row(command, profile, client_id))
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
        more_legs_before = command.id in self._more_legs   # a reverse's close: its entry follows
        for index, position in enumerate(positions):
            if index < len(positions) - 1:   # hedge mode, both sides: one final answer, after the last
                self._more_legs.add(command.id)
            elif not more_legs_before:
                self._more_legs.discard(command.id)
            client_id = self.next_client_id()
            request = self._close_request(profile.symbol, position.quantity, position.position_side,
                                          client_id)
            refusal = session.limiter.refuse_order(session.clock.now_ms(), None, reduce_only=True)
            if refusal is not None:
                raise CommandRefused(refusal)
            outcome = await self.place(request, command.accepted_ns, resend_late=True,
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
        outcome = await self.place(request, time.perf_counter_ns(), resend_late=True,
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
