"""The pieces of ``selftest --trade`` that meet the engine's ASL and user stream: the ASL's gateway
(``asl_api.AslGateway``) that sends through the warm session and records every placement with its
timing, and how a user-data event is found and described when the engine's parser cannot read it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from traytrader.core.errors import CommandRefused
from traytrader.core.models import PositionSide
from traytrader.engine.gateway import SessionRules
from traytrader.engine.session import Session

EVENT_TIMEOUT_S = 5.0
SIZE_MARGIN = Decimal("1.1")  # 10 % above the minimum notional: a price move must not undercut it
PARSER_FIELDS = {
    "ORDER_TRADE_UPDATE": "o.s, o.S, o.ps, o.z, o.ap, o.c, o.i",
    "ACCOUNT_UPDATE": "a.P[].s, a.P[].pa, a.P[].ep, a.P[].ps",
    "ALGO_UPDATE": "o.caid, o.X, o.s, o.ps",
}


def mentions(event: Mapping[str, Any], kind: str, value: str) -> bool:
    """``event`` is a ``kind`` event whose ``o`` object carries ``value`` under any name (so an
    event whose fields were renamed is still found, and its parser judged)."""
    order = event.get("o")
    return event.get("e") == kind and isinstance(order, Mapping) and value in {str(v) for v in order.values()}


def fields_of(event: Mapping[str, Any]) -> str:
    inner = event.get("o") or event.get("a") or {}
    return ", ".join(sorted(map(str, inner))) if isinstance(inner, Mapping) else "?"


class SelftestGateway(SessionRules):
    """The ASL's ``AslGateway`` for the selftest: requests through the warm session, each recorded
    (and timed); after ``closed`` nothing more is sent."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.placed: list[tuple[dict[str, str], float, float | None, BaseException | None]] = []
        self.first_placed = asyncio.Event()
        self.closed = False

    def _open(self) -> None:
        if self.closed:
            raise CommandRefused("The selftest's round trip is over.")

    async def place_algo(self, params: Mapping[str, str]) -> dict[str, Any]:
        self._open()
        sent = time.perf_counter()
        try:
            reply = await self.session.call(
                "algoOrder.place",
                params,
                symbol=params.get("symbol", ""),
                client_id=params.get("clientAlgoId", ""),
            )
        except BaseException as exc:
            self.placed.append((dict(params), sent, None, exc))
            self.first_placed.set()
            raise
        self.placed.append((dict(params), sent, (reply.received_ns - reply.wire_ns) / 1e6, None))
        self.first_placed.set()
        return reply.result if isinstance(reply.result, dict) else {}

    async def cancel_algo(self, symbol: str, client_algo_id: str) -> dict[str, Any]:
        self._open()
        reply = await self.session.call(
            "algoOrder.cancel", {"symbol": symbol, "clientAlgoId": client_algo_id}
        )
        return reply.result if isinstance(reply.result, dict) else {}

    async def open_algo_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        self._open()
        body = await self.session.rest_call(
            "GET", "/fapi/v1/openAlgoOrders", {"symbol": symbol} if symbol else None
        )
        return body if isinstance(body, list) else []

    async def close_position(
        self, symbol: str, position_side: PositionSide, quantity: Decimal
    ) -> dict[str, Any]:
        raise CommandRefused("The selftest closes its position itself.")
