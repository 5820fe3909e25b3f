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

from traytrader.core.decimals import format_decimal
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


class FillReporting:
    """The reporting half of the ``Dispatcher`` (a mixin: it shares the dispatcher's state)."""

    session: Session
    emit: Callable[[Event], None]
    on_filled: Callable[[OrderRequest, dict[str, Any]], None] | None
    _awaiting_answer: set[str]
    _resting: dict[str, None]
    _fill_waiters: dict[str, asyncio.Future[Decimal]]
    _recent_fills: dict[str, Decimal]
    _fees: dict[str, tuple[Decimal, str]]

    def _answer(self, command: Command, event: Event) -> None:
        raise NotImplementedError

    FILL_PRICE_WAIT_S = 1.0

    if TYPE_CHECKING:   # ``position_commands.PositionCommands``, after this mixin in the bases
        def note_wallet(self, message: dict[str, Any]) -> None: ...

        def note_fee(self, order: dict[str, Any]) -> None: ...

    def _on_user_message(self, message: dict[str, Any]) -> None:
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
