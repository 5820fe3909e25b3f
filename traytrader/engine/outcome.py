"""Never twice: resolving a request whose outcome is unknown before anything is resent.

An order is "unknown" when its frame left and no answer came (timeout, connection dropped after
sending, 503 "Unknown error"). We then ask ``order.status`` by ``origClientOrderId``:

* found → that is the result (filled, new, cancelled...), nothing is resent;
* ``-2013 Order does not exist`` → it never executed, and only then it may be sent again, with the
  same client id (design: "Idempotency").

Asking too early would be wrong: a request delayed inside the exchange can still execute after a
``-2013``. So we first wait until the request's own ``timestamp + recvWindow`` has passed on the
exchange clock: after that the exchange refuses to execute it (-1021, and -5028 at the matching
engine since 2023-04-18, protocol notes §1.7), so a ``-2013`` is final.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from traytrader.core.codes import BinanceCode
from traytrader.core.errors import ExchangeRejected, OutcomeUnknown, TransportError
from traytrader.core.retry import backoff
from traytrader.engine.session import Session

# Margin on top of recvWindow for clock error between us and the exchange.
CLOCK_MARGIN_MS = 250


@dataclass(frozen=True)
class Resolution:
    exists: bool
    order: dict[str, Any] | None = None


async def wait_connected(session: Session, timeout_s: float) -> None:
    """Wait until the WS API is connected again (the session reconnects by itself)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while session.ws is None or not session.ws.connected:
        if loop.time() >= deadline:
            raise TransportError("The exchange is still unreachable.")
        await asyncio.sleep(0.02)


async def resolve(session: Session, symbol: str, client_id: str, sent_timestamp_ms: int, *,
                  attempts: int = 8, reconnect_timeout_s: float = 30.0) -> Resolution:
    """Ask the exchange whether ``client_id`` exists; see the module docstring.

    Raises ``OutcomeUnknown`` when the exchange cannot be asked within ``attempts`` tries: the
    order must then not be resent, and the user is told to check.
    """
    window_ms = session.config.exchange.recv_window_ms + CLOCK_MARGIN_MS
    wait_ms = sent_timestamp_ms + window_ms - session.clock.now_ms()
    if wait_ms > 0:
        await asyncio.sleep(wait_ms / 1000)
    delays = backoff(initial_s=0.1, max_s=5.0)
    last: Exception | None = None
    for _ in range(attempts):
        try:
            await wait_connected(session, reconnect_timeout_s)
            reply = await session.call("order.status", {"symbol": symbol, "origClientOrderId": client_id},
                                       symbol=symbol, client_id=client_id)
            return Resolution(True, reply.result if isinstance(reply.result, dict) else None)
        except ExchangeRejected as exc:
            if exc.code == BinanceCode.NO_SUCH_ORDER:
                return Resolution(False)
            if exc.code in (BinanceCode.INVALID_TIMESTAMP, BinanceCode.ME_RECVWINDOW_REJECT):
                await session.clock.sync(session.rest)
            last = exc
        except (TransportError, OSError) as exc:
            last = exc
        await asyncio.sleep(next(delays))
    raise OutcomeUnknown(f"Could not learn whether order {client_id} on {symbol} executed ({last}); it was "
                         "not sent again. Check the exchange before pressing again.")
