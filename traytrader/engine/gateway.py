"""The engine's side of the ASL seam (``asl_api.AslGateway``): algo orders and closes through the
warm session, journalled like every other request."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from traytrader.core.errors import CommandRefused, ExchangeRejected
from traytrader.core.models import OrderType, PositionMode, PositionSide
from traytrader.core.shield_table import Reaction
from traytrader.engine.dispatch import Dispatcher
from traytrader.engine.session import Session


class SessionRules:
    """The part of ``AslGateway`` that only reads the warm session: position mode, tick, step."""

    session: Session

    @property
    def position_mode(self) -> PositionMode:
        return self.session.mode

    def tick_size(self, symbol: str) -> Decimal:
        return self.session.filters(symbol).tick_size

    def step_size(self, symbol: str) -> Decimal:
        return self.session.filters(symbol).lot_for(OrderType.MARKET).step_size


class EngineGateway(SessionRules):
    """Implements ``AslGateway`` on top of a ``Session`` and its ``Dispatcher``."""

    def __init__(self, session: Session, dispatcher: Dispatcher) -> None:
        self.session = session
        self.dispatcher = dispatcher

    async def _shielded(self, method: str, params: Mapping[str, Any], symbol: str,
                        client_id: str) -> dict[str, Any]:
        """One algo request through the error shield, like an order: -1021 resyncs the clock and
        sends once more (the timestamp is taken at send time); rate limits hold; other codes are
        the ladder's to retry (it rebuilds from the re-read mode and filters)."""
        retried = False
        while True:
            hold = self.session.limiter.held(self.session.clock.now_ms())
            if hold is not None:   # during a 429/418 hold every request lengthens it
                raise CommandRefused(hold.reason)
            try:
                reply = await self.session.call(method, params, symbol=symbol, client_id=client_id)
            except ExchangeRejected as exc:
                verdict = await self.dispatcher.shield.react(exc, symbol=symbol, retried=retried)
                if verdict.retry and verdict.reaction is Reaction.RESYNC_CLOCK_RETRY:
                    retried = True
                    continue
                raise
            return reply.result if isinstance(reply.result, dict) else {}

    async def place_algo(self, params: Mapping[str, str]) -> dict[str, Any]:
        return await self._shielded("algoOrder.place", params, str(params.get("symbol", "")),
                                    str(params.get("clientAlgoId", "")))

    async def cancel_algo(self, symbol: str, client_algo_id: str) -> dict[str, Any]:
        params = {"symbol": symbol, "clientAlgoId": client_algo_id}
        return await self._shielded("algoOrder.cancel", params, symbol, client_algo_id)

    async def open_algo_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        params = {"symbol": symbol} if symbol else None
        body = await self.session.rest_call("GET", "/fapi/v1/openAlgoOrders", params)
        return body if isinstance(body, list) else []

    async def close_position(self, symbol: str, position_side: PositionSide,
                             quantity: Decimal) -> dict[str, Any]:
        return await self.dispatcher.close_position(symbol, position_side, quantity)
