"""What an order's answer and the user stream say about its fills, turned into one sentence each:
the fill price when the answer lacks it, the fee from the order's trades, the position moved at
once, and a resting order's later fills announced as they come.

Part of the ``Dispatcher`` (``engine/dispatch.py``), split out by job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from traytrader.core import display
from traytrader.core.errors import TraytraderError
from traytrader.core.models import OrderType, PositionSide, Side
from traytrader.core.orders import (
    OrderRequest,
)
from traytrader.engine.api import (
    Command,
    CommandRejected,
    Event,
    Notice,
    OrderAccepted,
    OrderFilled,
)
from traytrader.engine.order_sending import SendOutcome
from traytrader.engine.session import Session


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _money(paid: tuple[Decimal, str]) -> str:
    """A fee: ``0.04 USDT`` (two decimals for USDT, its own digits for another asset)."""
    amount, asset = paid
    return display.usdt(amount) if asset == "USDT" else f"{display.quantity(amount)} {asset}"


class FillReporting:
    """The reporting half of the ``Dispatcher`` (a mixin: it shares the dispatcher's state)."""

    session: Session
    emit: Callable[[Event], None]
    on_filled: Callable[[OrderRequest, dict[str, Any]], None] | None
    _awaiting_answer: set[str]
    _resting: dict[str, str]
    _fill_waiters: dict[str, asyncio.Future[Decimal]]
    _recent_fills: dict[str, Decimal]
    _fees: dict[str, tuple[Decimal, str]]
    _realized: dict[str, tuple[Decimal, Decimal]]
    _entries: dict[tuple[str, PositionSide], Decimal]

    def _answer(self, command: Command, event: Event) -> None:
        raise NotImplementedError

    FILL_PRICE_WAIT_S = 1.0

    if TYPE_CHECKING:   # ``position_commands.PositionCommands``, after this mixin in the bases
        def note_wallet(self, message: dict[str, Any]) -> None: ...

        def note_fee(self, order: dict[str, Any]) -> None: ...

    def _on_user_message(self, message: dict[str, Any]) -> None:
        self._remember_entries()
        order = message.get("o")
        if message.get("e") == "ACCOUNT_UPDATE":
            self.note_wallet(message)
        if message.get("e") != "ORDER_TRADE_UPDATE" or not isinstance(order, dict):
            return
        client_id = str(order.get("c", ""))
        if order.get("x") == "TRADE" and isinstance(order.get("N"), str):
            self.note_fee(order)
            # Commission per trade ("n", in asset "N"): an order's fee is the sum of its trades'.
            paid, asset = self._fees.get(client_id, (Decimal(0), order["N"]))
            self._fees[client_id] = (paid + _dec(order.get("n")), asset)
            if len(self._fees) > 64:
                del self._fees[next(iter(self._fees))]
            # Realised PnL per trade ("rp"), summed with the quantity it covers ("l"): complete
            # when that quantity is the order's executed quantity.
            pnl, covered = self._realized.get(client_id, (Decimal(0), Decimal(0)))
            self._realized[client_id] = (pnl + _dec(order.get("rp")), covered + _dec(order.get("l")))
            if len(self._realized) > 64:
                del self._realized[next(iter(self._realized))]
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
        tick, step = self._grid(symbol)
        if order.get("X") == "FILLED":
            paid = self._fees.get(client_id)
            fee_text = f", fee {_money(paid)}" if paid is not None else ""
            text = (f"{word} {display.quantity(filled, step)} {symbol} at {display.price(average, tick)}: "
                    f"the resting order filled{fee_text}.")
            self.session.journal.record("event", text, symbol=symbol, client_id=client_id)
            self.emit(OrderFilled(text, symbol=symbol, side=side, quantity=filled, avg_price=average,
                                  fee=paid[0] if paid is not None else None, client_order_id=client_id,
                                  realized_pnl=self._realized_of(client_id, filled)))
        else:
            text = (f"{symbol}: the resting {side.value.lower()} order filled "
                    f"{display.quantity(filled, step)} of {display.quantity(total, step)} so far, at "
                    f"{display.price(average, tick)} on average.")
            self.session.journal.record("event", text, symbol=symbol, client_id=client_id)
            self.emit(Notice(text))

    async def check_resting_after_resync(self) -> None:
        """After a resync (a reconnect of either connection): a resting order of ours that is no
        longer open may have filled while the user stream was down, its events lost. The resync
        already protects the position (ownership comes from the exchange's order list); this asks
        each such order's status so that its fill is announced too."""
        open_ids = {cid for orders in self.session.open_orders.values() for cid in orders}
        for client_id, symbol in list(self._resting.items()):
            if client_id in open_ids:
                continue
            try:
                reply = await self.session.call(
                    "order.status", {"symbol": symbol, "origClientOrderId": client_id},
                    symbol=symbol, client_id=client_id)
            except TraytraderError:
                continue   # asked again after the next resync
            order = reply.result if isinstance(reply.result, dict) else {}
            status = str(order.get("status", ""))
            if status in ("NEW", "PARTIALLY_FILLED"):
                continue   # still resting: its stream events will tell
            self._resting.pop(client_id, None)
            if _dec(order.get("executedQty")) > 0:
                as_event = {"s": symbol, "S": order.get("side"), "X": status,
                            "z": order.get("executedQty"), "q": order.get("origQty")}
                self._report_later_fill(as_event, client_id, _dec(order.get("avgPrice")))

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

    def _grid(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """``symbol``'s tick and step, for the sentences (None when the exchange info lacks them)."""
        try:
            filters = self.session.filters(symbol)
        except TraytraderError:
            return None, None
        lot = filters.market_lot_size or filters.lot_size
        tick = filters.price_filter.tick_size if filters.price_filter is not None else None
        return tick, lot.step_size if lot is not None else None

    def _remember_entries(self) -> None:
        """The entry of every open position, kept after it closes: a close whose stream came
        before its answer (the position already flat) still knows what it closed."""
        for position in self.session.tracker.open_positions():
            if position.entry_price:
                self._entries[(position.symbol, position.position_side)] = position.entry_price

    def _realized_of(self, client_id: str, executed: Decimal) -> Decimal | None:
        """The order's realised PnL from its trades, when they cover all of ``executed``."""
        pnl, covered = self._realized.get(client_id, (Decimal(0), Decimal(0)))
        return pnl if executed and covered == executed else None

    def _reduction(self, request: OrderRequest, result: dict[str, Any], before: tuple[Decimal, Decimal],
                   executed: Decimal, avg: Decimal) -> tuple[Decimal | None, Decimal | None]:
        """(realised PnL, position after) of a fill that reduced or closed a position; (None,
        after) for one that opened or added, or when the PnL cannot be known.

        Whether it reduced is read from the position after the fill (the same whichever of the
        answer and the user stream applied it first): flat, or still on the other side of the
        fill. The realised PnL is the exchange's (the trades' ``rp``) once the stream has brought
        them all, else the tracker's: the reduced quantity times the move from the average entry."""
        position_side = PositionSide(str(result.get("positionSide", request.position_side.value)))
        position = self.session.tracker.get(request.symbol, position_side)
        after = position.quantity
        buying = request.side is Side.BUY
        if after != 0 and (after > 0) == buying:
            return None, after                       # opened, added, or reversed through zero
        known = self._realized_of(request.client_order_id, executed)
        if known is not None:
            return known, after
        old, entry = before
        if old != 0 and (old > 0) != buying:         # the answer applied it: the entry from before
            direction = 1 if old > 0 else -1
            return min(executed, abs(old)) * (avg - entry) * direction, after
        entry = position.entry_price if after != 0 else self._entries.get((request.symbol, position_side))
        if entry and avg > 0:   # reduced (the entry has not changed), or closed by the stream first
            return executed * (avg - entry) * (-1 if buying else 1), after
        return None, after

    def _report(self, command: Command, request: OrderRequest, outcome: SendOutcome) -> None:
        result = outcome.result
        position = self.session.tracker.get(request.symbol, PositionSide(
            str(result.get("positionSide", request.position_side.value))))
        before = (position.quantity, position.entry_price)
        executed, avg = self._apply_fill(request, result)
        self._remember_entries()
        tick, step = self._grid(request.symbol)
        to_wire = (outcome.wire_ns - command.accepted_ns) / 1000
        round_trip = (outcome.received_ns - outcome.wire_ns) / 1000
        status = str(result.get("status", ""))
        side_word = "Bought" if request.side is Side.BUY else "Sold"
        if executed:
            # The fee is known when the order's trades came on the user stream before its answer.
            paid = self._fees.get(request.client_order_id)
            fee_text = f", fee {_money(paid)}" if paid is not None else ""
            realized, after = self._reduction(request, result, before, executed, avg)
            pnl_text = "" if realized is None else f", realised PnL {display.usdt(realized, signed=True)}"
            text = (f"{side_word} {display.quantity(executed, step)} {request.symbol} at "
                    f"{display.price(avg, tick)} ({to_wire:.0f} µs to wire, {round_trip / 1000:.1f} ms "
                    f"round trip{fee_text}{pnl_text}).")
            exact = {"fee": str(paid[0]), "fee_asset": paid[1]} if paid is not None else {}
            if realized is not None:
                exact["realized_pnl"] = str(realized)
            self.session.journal.record("event", text, symbol=request.symbol,   # the sentence rounds
                                        client_id=request.client_order_id, latency_us=to_wire,
                                        data=exact or None)
            if self.on_filled is not None:   # protection first: the ASL starts the stop now
                self.on_filled(request, result)
            self._answer(command, OrderFilled(text, symbol=request.symbol, side=request.side,
                                              quantity=executed, avg_price=avg,
                                              fee=paid[0] if paid is not None else None,
                                              client_order_id=request.client_order_id,
                                              to_wire_us=to_wire, round_trip_us=round_trip,
                                              realized_pnl=realized, position_after=after))
            return
        if request.type is OrderType.MARKET and status in ("EXPIRED", "CANCELED", "EXPIRED_IN_MATCH"):
            text = f"The {request.side.value.lower()} order for {request.symbol} expired unfilled ({status})."
            self._answer(command, CommandRejected(text, command=command.kind))
            return
        self._resting[request.client_order_id] = request.symbol   # its fills are announced as they come
        if len(self._resting) > 256:
            del self._resting[next(iter(self._resting))]
        at = f" at {display.price(request.price, tick)}" if request.price is not None else ""
        text = (f"{request.side.value.title()} {display.quantity(request.quantity, step)} {request.symbol} "
                f"accepted{at}"
                + f" ({status or 'NEW'}).")
        self.session.journal.record("event", text, symbol=request.symbol, client_id=request.client_order_id,
                                    latency_us=to_wire)
        self._answer(command, OrderAccepted(text, symbol=request.symbol, side=request.side,
                                            quantity=request.quantity, price=request.price,
                                            client_order_id=request.client_order_id,
                                            to_wire_us=to_wire, round_trip_us=round_trip))
