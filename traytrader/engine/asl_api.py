"""The seam between the engine and the Advanced Stop Loss driver.

The engine owns the connection and all exchange state; the ASL driver (``engine/asl_driver.py``,
built on the pure ladder in ``core/asl.py``) decides. The engine feeds the driver what it learns
(position updates, mark prices, ALGO_UPDATE events, timer ticks, a recovery snapshot) and the
driver acts through an ``AslGateway`` the engine implements. All calls happen on the engine's
asyncio loop; nothing here blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from traytrader.core.models import PositionMode, PositionSide


class AslGateway(Protocol):
    """What the driver may ask of the engine. Errors arrive as ``core.errors`` exceptions:
    ``ExchangeRejected`` (with ``code``) or ``OutcomeUnknown`` / ``TransportError``."""

    @property
    def position_mode(self) -> PositionMode: ...

    def tick_size(self, symbol: str) -> Decimal: ...

    def step_size(self, symbol: str) -> Decimal: ...

    async def place_algo(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``algoOrder.place`` with these params (the engine adds apiKey/timestamp/signature);
        returns the ``result`` object."""

    async def cancel_algo(self, symbol: str, client_algo_id: str) -> dict[str, Any]:
        """``algoOrder.cancel`` by ``clientAlgoId``; returns the ``result`` object."""

    async def open_algo_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """``GET /fapi/v1/openAlgoOrders`` (weight 1 per symbol, 40 without)."""

    async def close_position(
        self, symbol: str, position_side: PositionSide, quantity: Decimal
    ) -> dict[str, Any]:
        """Reduce-only MARKET order closing ``quantity`` (unsigned) of that position; returns the result."""


class AslSink(Protocol):
    """What the engine calls on the driver. ``now_ms`` is the engine's (exchange-aligned) clock;
    it jumps when the offset is resynced, so the driver times its ladders on a monotonic clock."""

    def on_position(self, symbol: str, position_side: PositionSide, quantity: Decimal,
                    entry_price: Decimal, now_ms: int, *, ours: bool) -> None:
        """Signed ``quantity`` (> 0 long, < 0 short; 0 = closed). ``ours``: opened by traytrader
        (adopt external positions only when ``protect_external_positions``)."""

    def on_mark_price(self, symbol: str, mark_price: Decimal, now_ms: int) -> None: ...

    def on_algo_update(self, order: Mapping[str, Any], now_ms: int) -> None:
        """The ``o`` object of an ALGO_UPDATE event, as Binance sends it."""

    def on_tick(self, now_ms: int) -> None:
        """Called every ``watchdog_ms`` (500 ms default)."""

    async def recover(self, positions: list[dict[str, Any]], open_algo_orders: list[dict[str, Any]],
                      now_ms: int, extremes: Mapping[str, Decimal] | None = None,
                      ours: Iterable[tuple[str, PositionSide]] = ()) -> None:
        """On start and after every reconnect: rebuild the ladder from what the exchange says.
        ``extremes``: trailing stops' persisted extremes; ``ours``: positions known to be ours."""

    def stop_words(self, symbol: str) -> tuple[int, str] | None:
        """(tier, words) of the active stop on ``symbol``'s position, for the status line."""

    def protects(self, symbol: str, position_side: PositionSide, quantity: Decimal) -> str | None:
        """None when a confirmed stop of ours covers ``quantity`` of that position, else why not."""
