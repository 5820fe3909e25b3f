"""The engine's side of the ASL seam (``asl_api.AslGateway``): algo orders and closes through the
warm session, journalled like every other request."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from traytrader.core.models import OrderType, PositionMode, PositionSide
from traytrader.engine.dispatch import Dispatcher
from traytrader.engine.session import Session


class EngineGateway:
    """Implements ``AslGateway`` on top of a ``Session`` and its ``Dispatcher``."""

    def __init__(self, session: Session, dispatcher: Dispatcher) -> None:
        self.session = session
        self.dispatcher = dispatcher

    @property
    def position_mode(self) -> PositionMode:
        return self.session.mode

    def tick_size(self, symbol: str) -> Decimal:
        return self.session.filters(symbol).tick_size

    def step_size(self, symbol: str) -> Decimal:
        return self.session.filters(symbol).lot_for(OrderType.MARKET).step_size

    async def place_algo(self, params: Mapping[str, str]) -> dict[str, Any]:
        reply = await self.session.call("algoOrder.place", params, symbol=str(params.get("symbol", "")),
                                        client_id=str(params.get("clientAlgoId", "")))
        return reply.result if isinstance(reply.result, dict) else {}

    async def cancel_algo(self, symbol: str, client_algo_id: str) -> dict[str, Any]:
        params = {"symbol": symbol, "clientAlgoId": client_algo_id}
        reply = await self.session.call("algoOrder.cancel", params, symbol=symbol, client_id=client_algo_id)
        return reply.result if isinstance(reply.result, dict) else {}

    async def open_algo_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        params = {"symbol": symbol} if symbol else None
        body = await self.session.rest_call("GET", "/fapi/v1/openAlgoOrders", params)
        return body if isinstance(body, list) else []

    async def close_position(self, symbol: str, position_side: PositionSide,
                             quantity: Decimal) -> dict[str, Any]:
        return await self.dispatcher.close_position(symbol, position_side, quantity)
