"""The trader's toolkit commands on an open position: breakeven, close a part, add to it; and the
sizing of risk-based profiles (``risk_usdt`` / ``risk_pct``).

Part of the ``Dispatcher`` (``engine/dispatch.py``), split out by job. The rules are pure
(``core/asl_toolkit.py``); this file reads the engine's state, sends, and answers once:

* ``breakeven``: the stop moves to entry + fees (the ladder's floor, ``core.asl.Floor``); answered
  once the stop at that level (or better) is confirmed on the exchange.
* ``close 50%``: a reduce-only MARKET close of that part, rounded down to the step; the ladder
  resizes its stop to the remainder when the position update comes (make-before-break).
* ``add``: ``add_fraction`` of the position (or the profile's size) in its direction; the caps
  apply; the ladder resizes to the re-averaged position.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from traytrader.core import display
from traytrader.core.asl_toolkit import (
    add_quantity,
    breakeven_price,
    breakeven_refusal,
    fraction_text,
    parse_fraction,
    partial_close_quantity,
    risk_amount,
    risk_notional,
    risk_quantity,
)
from traytrader.core.errors import CommandRefused
from traytrader.core.models import PositionSide, Profile, Side
from traytrader.core.orders import OrderRequest, build_close_order, build_entry_order
from traytrader.engine.api import Command, CommandDone, Event
from traytrader.engine.positions import Position
from traytrader.engine.session import Session

#: How long ``breakeven`` waits for the exchange to confirm the stop at breakeven before answering.
BREAKEVEN_CONFIRM_S = 5.0
_ZERO = Decimal(0)


class PositionCommands:
    """The position half of the ``Dispatcher`` (a mixin: it shares the dispatcher's state)."""

    session: Session
    emit: Callable[[Event], None]
    asl: Any   # the ASL driver (``engine/asl_driver.AslDriver``), set by the engine; None without it
    _fee_rate: Decimal
    _wallet: Decimal | None
    _sized_profiles: dict[str, tuple[Profile, Decimal | None, Profile]]

    def _answer(self, command: Command, event: Event) -> None:
        raise NotImplementedError

    def next_client_id(self) -> str:
        raise NotImplementedError

    if TYPE_CHECKING:   # the other mixins' (listed before this one in the Dispatcher's bases)
        async def place(self, request: OrderRequest, accepted_ns: int, rebuild: Any = None,
                        first_row: Any = None, first: Any = None) -> Any: ...

        async def _complete_price(self, request: OrderRequest, outcome: Any) -> None: ...

        def _report(self, command: Command, request: OrderRequest, outcome: Any) -> None: ...

    # -- risk-based sizing ------------------------------------------------------------------------
    def sized_profile(self, profile: Profile) -> Profile:
        """``profile`` itself, or for a risk-based one the same profile with the notional its risk
        buys (``risk ÷ hard-stop distance``, capped by ``max_notional_usdt``). One object per
        (profile, wallet balance), so a prepared entry stays current (``EntryPath.current``)."""
        if not profile.risk_sized:
            return profile
        wallet = self._wallet if profile.risk_pct is not None else None
        cached = self._sized_profiles.get(profile.name)
        if cached is not None and cached[0] is profile and cached[1] == wallet:
            return cached[2]
        risk = risk_amount(profile.risk_usdt, profile.risk_pct, wallet)
        cap = self.session.config.safety.max_notional_usdt
        notional = risk_notional(risk, profile.asl.hard_stop_pct, cap)
        sized = dataclasses.replace(profile, notional_usdt=notional, risk_usdt=None, risk_pct=None)
        self._sized_profiles[profile.name] = (profile, wallet, sized)
        return sized

    def check_risk_minimum(self, profile: Profile, price: Decimal) -> None:
        """Raise the risk sentence ("a risk of at least … would reach it") when the risk-based size
        is below the symbol's minimum at ``price``."""
        if not profile.risk_sized:
            return
        risk = risk_amount(profile.risk_usdt, profile.risk_pct, self._wallet)
        risk_quantity(risk, profile.asl.hard_stop_pct, price, self.session.filters(profile.symbol),
                      self.session.config.safety.max_notional_usdt, profile.order_type)

    def note_wallet(self, message: dict[str, Any]) -> None:
        """The USDT wallet balance from an ACCOUNT_UPDATE (``a.B[].wb``), for ``risk_pct``."""
        account = message.get("a")
        if message.get("e") != "ACCOUNT_UPDATE" or not isinstance(account, dict):
            return
        for row in account.get("B") or ():
            if isinstance(row, dict) and row.get("a") == "USDT":
                with contextlib.suppress(ArithmeticError):
                    self._wallet = Decimal(str(row.get("wb")))

    def note_fee(self, order: dict[str, Any]) -> None:
        """The account's taker fee rate, from a taker trade of ours paid in USDT (``n / (l × L)``)."""
        if order.get("m") is True or order.get("N") != "USDT":
            return
        try:
            paid, qty, price = (Decimal(str(order.get(k))) for k in ("n", "l", "L"))
        except ArithmeticError:
            return
        if qty > 0 and price > 0 and paid >= 0:
            self._fee_rate = paid / (qty * price)

    async def read_wallet(self) -> None:
        """The USDT wallet balance over REST (start, for ``risk_pct``); the user stream keeps it."""
        try:
            rows = await self.session.rest_call("GET", "/fapi/v2/balance")
        except Exception:   # the keypress says "not known yet"; nothing else depends on it
            return
        for row in rows if isinstance(rows, list) else ():
            if isinstance(row, dict) and row.get("asset") == "USDT":
                with contextlib.suppress(ArithmeticError):
                    self._wallet = Decimal(str(row.get("balance")))

    # -- breakeven --------------------------------------------------------------------------------
    async def _breakeven(self, command: Command, profile: Profile) -> None:
        session, symbol = self.session, profile.symbol
        positions = session.tracker.open_positions(symbol)
        if not positions:
            raise CommandRefused(f"Nothing to move to breakeven: no {symbol} position.")
        if self.asl is None or not hasattr(self.asl, "set_floor"):
            raise CommandRefused("Breakeven refused: the stop manager (ASL) is not running.")
        tick = session.filters(symbol).tick_size
        mark = session.mark(symbol)
        moves: list[tuple[PositionSide, Decimal, Decimal]] = []
        for position in positions:
            q, entry = position.quantity, position.entry_price
            if not self.asl.manages(symbol, position.position_side):
                raise CommandRefused(f"Breakeven refused: the {symbol} position is not protected by "
                                     "traytrader's stop (opened elsewhere; see protect_external_positions).")
            fees_paid = abs(q) * entry * self._fee_rate   # the entry fills' fees at the account's rate
            level = breakeven_price(q, entry, fees_paid, self._fee_rate, tick)
            current = self.asl.stop_price(symbol, position.position_side)
            refusal = breakeven_refusal(q, level, mark, current, tick)
            if refusal is not None:
                raise CommandRefused(refusal)
            moves.append((position.position_side, q, level))
        for position_side, _, level in moves:
            self.asl.set_floor(symbol, position_side, level)
        session.journal.record("command", command.kind.value, symbol=symbol,
                               data={"levels": [str(level) for _, _, level in moves],
                                     "source": command.source})
        deadline = time.monotonic() + BREAKEVEN_CONFIRM_S
        pending = list(moves)
        while pending and time.monotonic() < deadline:
            pending = [m for m in pending if not self.asl.stop_at_least(symbol, m[0], m[2])]
            if pending:
                await asyncio.sleep(0.02)
        words = ", ".join(f"{'long' if q > 0 else 'short'} at {display.price(level, tick)}"
                          for _, q, level in moves)
        if pending:
            raise CommandRefused(f"{symbol}: the breakeven stop ({words}) is not confirmed by the exchange "
                                 f"after {BREAKEVEN_CONFIRM_S:g} s; the previous stop stays until it is.")
        self._answer(command, CommandDone(f"{symbol}: stop moved to breakeven ({words}: entry plus fees); "
                                          "later tiers only tighten from there.", command=command.kind))

    # -- partial close ----------------------------------------------------------------------------
    async def _close_part(self, command: Command, profile: Profile, fraction_word: str) -> bool:
        """Close ``fraction_word`` of the position; False when it means the whole position (the
        caller closes it all)."""
        fraction = parse_fraction(fraction_word)
        if fraction >= 1:
            return False
        session, symbol = self.session, profile.symbol
        positions = session.tracker.open_positions(symbol)
        if not positions:
            self._answer(command, CommandDone(f"Nothing to close: no {symbol} position.",
                                              command=command.kind))
            return True
        position = one_side(positions, symbol, f"closing {fraction_text(fraction)}")
        filters = session.filters(symbol)
        price = session.mark(symbol) or position.entry_price
        part = partial_close_quantity(position.quantity, fraction, filters, price)
        signed = part.quantity if position.quantity > 0 else -part.quantity
        client_id = self.next_client_id()
        request = build_close_order(symbol, signed, position.position_side, filters, session.mode, client_id)
        refusal = session.limiter.refuse_order(session.clock.now_ms(), None, reduce_only=True)
        if refusal is not None:
            raise CommandRefused(refusal)

        def rebuild() -> OrderRequest:
            now = session.tracker.get(symbol, position.position_side).quantity
            if not now:
                raise CommandRefused(f"The {symbol} position is already closed.")
            size = min(abs(now), part.quantity)
            return build_close_order(symbol, size if now > 0 else -size, position.position_side,
                                     session.filters(symbol), session.mode, client_id)

        outcome = await self.place(request, command.accepted_ns, rebuild=rebuild, resend_late=True,
                                   first_row=lambda: session.journal.record(
                                       "command", f"{command.kind.value} {fraction_text(fraction)}",
                                       symbol=symbol, client_id=client_id, data={"source": command.source}))
        await self._complete_price(request, outcome)
        self._report(command, request, outcome)
        return True

    # -- scale in ---------------------------------------------------------------------------------
    async def _add(self, command: Command, profile: Profile) -> None:
        session, symbol = self.session, profile.symbol
        positions = session.tracker.open_positions(symbol)
        if not positions:
            raise CommandRefused(f"Nothing to add to: no {symbol} position (buy or sell opens one).")
        position = one_side(positions, symbol, "adding")
        side = Side.BUY if position.quantity > 0 else Side.SELL
        filters = session.filters(symbol)
        if profile.add_fraction is not None:
            quantity = add_quantity(position.quantity, profile.add_fraction, filters)
            if quantity <= 0:
                raise CommandRefused(f"Refused: {fraction_text(profile.add_fraction)} of "
                                     f"{display.quantity(abs(position.quantity))} {symbol} is below the "
                                     "minimum quantity; nothing was sent.")
            sized = dataclasses.replace(profile, notional_usdt=None, quantity=quantity, risk_usdt=None,
                                        risk_pct=None)
        else:
            if profile.risk_pct is not None and self._wallet is None:
                await self.read_wallet()
            sized = self.sized_profile(profile)
        book, mark = session.book(symbol), session.mark(symbol)
        if book is None or mark is None:
            raise CommandRefused(f"There is no price for {symbol} yet; wait for the market stream.")
        if profile.add_fraction is None:
            self.check_risk_minimum(profile, book[1] if side is Side.BUY else book[0])
        client_id = self.next_client_id()

        def build() -> OrderRequest:
            now_book = session.book(symbol) or book
            return build_entry_order(sized, side, session.filters(symbol), now_book[0], now_book[1],
                                     session.mark(symbol) or mark, session.mode, client_id)

        request = build()
        reference = request.price or (book[1] if side is Side.BUY else book[0])
        refusal = session.limiter.refuse_order(session.clock.now_ms(), request.quantity * reference)
        if refusal is not None:
            raise CommandRefused(refusal)
        outcome = await self.place(request, command.accepted_ns, rebuild=build,
                                   first_row=lambda: session.journal.record(
                                       "command", command.kind.value, symbol=symbol, client_id=client_id,
                                       data={"profile": profile.name, "source": command.source}))
        await self._complete_price(request, outcome)
        self._report(command, request, outcome)


def one_side(positions: list[Position], symbol: str, doing: str) -> Position:
    """The one open position a partial close or an add acts on. With a long and a short open at
    once (hedge mode), which one is meant is not known: refused, never guessed."""
    if len(positions) > 1:
        raise CommandRefused(f"Refused: a long and a short {symbol} position are both open (hedge mode), "
                             f"and {doing} would not know which one; nothing was sent. Close one side "
                             "first (close closes both).")
    return positions[0]
