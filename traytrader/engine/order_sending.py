"""Sending one order: once per client id, the error shield's one rebuild-and-resend, and an
unknown outcome resolved (``outcome.resolve``) before anything is sent again.

Part of the ``Dispatcher`` (``engine/dispatch.py``), split out by job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from traytrader.core.errors import (
    CommandRefused,
    ExchangeRejected,
    OutcomeUnknown,
    TransportError,
)
from traytrader.core.orders import (
    OrderRequest,
)
from traytrader.engine.api import (
    Event,
    Notice,
)
from traytrader.engine.outcome import resolve
from traytrader.engine.session import Session
from traytrader.engine.shield import Shield
from traytrader.exchange.ws_api import Written, WsApi

MAX_RESENDS = 2
#: An order that never reached the exchange is sent again only this soon after its key (the same
#: age past which the engine refuses a command: ``dispatch.MAX_COMMAND_AGE_MS``).
RESEND_WITHIN_MS = 2_000


class Fired(NamedTuple):
    """An entry's first attempt, written on the key path before its command's task existed."""

    request: OrderRequest
    ws: WsApi          # the connection it was written on (its answer comes there)
    written: Written
    timestamp: int     # the frame's timestamp (an unknown outcome is resolved from it)


@dataclass
class SendOutcome:
    result: dict[str, Any]
    wire_ns: int
    received_ns: int


class OrderSending:
    """The sending half of the ``Dispatcher`` (a mixin: it shares the dispatcher's state)."""

    session: Session
    emit: Callable[[Event], None]
    shield: Shield
    last_latency_us: float | None
    frame_ready_ns: int
    _awaiting_answer: set[str]

    async def place(self, request: OrderRequest, accepted_ns: int,
                    rebuild: Callable[[], OrderRequest] | None = None,
                    first_row: Callable[[], None] | None = None,
                    first: tuple[str, str, int, bytes | None] | None = None,
                    resend_late: bool = False, fired: Fired | None = None) -> SendOutcome:
        """Send ``request`` (once; at most one order per client id) and return its answer.
        An order that turns out never to have reached the exchange is sent again only while its
        command is younger than ``RESEND_WITHIN_MS`` — an entry the user no longer expects is
        worse than none — unless ``resend_late`` (a close: reducing is still what was asked).
        ``first_row`` journals the command: after the first write, or when nothing was sent.
        ``first`` (request id, frame, timestamp, encoded frame) is the first attempt already framed
        (an armed entry: its request id comes from the current connection); its params for the
        journal are computed after the write. ``fired``: the first attempt is already on the wire
        and recorded (``Dispatcher.fire``); its answer is awaited here."""
        session = self.session
        client_id = request.client_order_id
        retried = False
        resends = 0
        self._awaiting_answer.add(client_id)
        try:
            while True:
                if fired is not None:   # written and recorded by the key path: await its answer
                    request_id, timestamp = fired.written.request_id, fired.timestamp
                    answer = fired.ws.answer(fired.written)
                    fired = None
                    first_row = None
                else:
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

                    def sent(request_id: str = request_id, params: dict[str, str] | None = params,
                             timestamp: int = timestamp, request: OrderRequest = request) -> None:
                        nonlocal first_row
                        self.record_sent(request, request_id, params, timestamp, first_row)
                        first_row = None

                    # attribution: our work ends, the write begins
                    self.frame_ready_ns = time.perf_counter_ns()
                    answer = ws.send_frame(request_id, "order.place", frame, sent, encoded)
                try:
                    reply = await answer
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
                    age_ms = (time.perf_counter_ns() - accepted_ns) / 1e6
                    if not resend_late and age_ms > RESEND_WITHIN_MS:
                        session.journal.record("resolution", "order does not exist (-2013); too late to send "
                                               "again", symbol=request.symbol, client_id=client_id)
                        raise CommandRefused(
                            f"The {request.side.value.lower()} order for {request.symbol} never reached the "
                            f"exchange, and {age_ms / 1000:.1f} s have passed since the key: it was not sent "
                            "again. Press again if you still want it.") from None
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

    def record_sent(self, request: OrderRequest, request_id: str, params: dict[str, str] | None,
                    timestamp: int, first_row: Callable[[], None] | None = None) -> None:
        """Bookkeeping right after an order's write (the caps were checked before signing):
        ``first_row`` (the command's own row) first, then the request row (params only: the
        frame's key and signature never reach the journal), and the limiter's count."""
        session = self.session
        if first_row is not None:
            first_row()
        session.journal.record("request", "order.place", symbol=request.symbol,
                               client_id=request.client_order_id, request_id=request_id,
                               data=params if params is not None else request.params())
        session.limiter.record_order(timestamp)
