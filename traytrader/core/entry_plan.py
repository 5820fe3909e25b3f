"""A keypress's entry order, prepared once per (profile, side): only the prices are left to apply.

``build_entry_order`` checks everything on every call: the symbol, its status, which lot filter,
the profile's sizing rule, the position side for the mode, then the prices. All but the prices are
the same on every keypress until the exchange info or the position mode changes, so an
``EntryPlan`` decides them once (at warm-up, or on the first keypress after a change) and a
keypress runs only the arithmetic that depends on the book and the mark price.

The plan never decides on its own that an order is invalid: when any check fails, ``size`` returns
None and the caller asks ``build_entry_order``, which raises the sentence naming the filter. Where
both accept, they produce the same order (a property test holds the two together).
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Any, NamedTuple

from traytrader.core.decimals import (
    Direction,
    divide_floor,
    floor_to_step,
    format_decimal,
    multiply,
    round_to_tick,
)
from traytrader.core.filters import SymbolFilters
from traytrader.core.models import OrderType, PositionMode, PositionSide, Profile, Side, TimeInForce
from traytrader.core.orders import OrderRequest

_ZERO = Decimal(0)


class SizedEntry(NamedTuple):
    """The varying part of an entry: quantity (and its wire text), LIMIT price, and the notional the
    user cap is checked against (quantity × the price we expect to pay)."""

    quantity: Decimal
    quantity_text: str
    price: Decimal | None
    price_text: str | None
    notional: Decimal


class EntryPlan:
    """Everything about one (profile, side) entry that does not depend on prices.

    Build with ``EntryPlan.prepare`` (raises ``InvalidOrder`` when the symbol cannot be traded at
    all); ``size`` per keypress; ``request`` turns the sized entry into the ``OrderRequest`` the
    rest of the engine keeps; ``fixed_params`` are the wire params that never change.
    """

    __slots__ = ("_band_down", "_band_up", "_fields", "_fixed_qty", "_hedge_side", "_limit_offset",
                 "_max_qty", "_min_notional", "_min_price", "_min_qty", "_notional", "_quantize", "_step",
                 "_tick", "buy", "filters", "mode", "order_type", "profile", "side", "symbol",
                 "time_in_force")

    def __init__(self, profile: Profile, side: Side, filters: SymbolFilters, mode: PositionMode) -> None:
        self.profile = profile
        self.side = side
        self.filters = filters
        self.mode = mode
        self.symbol = filters.symbol
        self.order_type = profile.order_type
        self.buy = side is Side.BUY
        lot = filters.lot_for(profile.order_type)
        self._step, self._min_qty, self._max_qty = lot.step_size, lot.min_qty, lot.max_qty
        self._tick, self._min_price = filters.tick_size, filters.min_price
        self._min_notional = filters.min_notional
        band = filters.percent_price
        self._band_up = band.multiplier_up if band is not None else None
        self._band_down = band.multiplier_down if band is not None else None
        self._notional = profile.notional_usdt
        self._fixed_qty = profile.quantity
        self._limit_offset = profile.limit_offset_ticks
        self.time_in_force: TimeInForce | None = (profile.time_in_force
                                                  if profile.order_type is OrderType.LIMIT else None)
        self._hedge_side = ((PositionSide.LONG if self.buy else PositionSide.SHORT)
                            if mode is PositionMode.HEDGE else PositionSide.BOTH)
        # A step written as a power of ten ("0.001") with the minimum on its grid: flooring to the
        # step is one ``quantize``, the same number ``floor_to_step`` computes the long way.
        step = self._step
        self._quantize = step > 0 and step.as_tuple().digits == (1,) \
            and self._min_qty % step == 0
        self._fields: dict[str, Any] = {
            "symbol": self.symbol, "side": side, "type": self.order_type, "price": None,
            "time_in_force": self.time_in_force, "position_side": self._hedge_side, "reduce_only": False,
            "resp_type": ""}

    @classmethod
    def prepare(cls, profile: Profile, side: Side, filters: SymbolFilters,
                mode: PositionMode) -> EntryPlan | None:
        """The plan, or None when the static checks fail (``build_entry_order`` then says why)."""
        if profile.symbol != filters.symbol or (profile.notional_usdt is None) == (profile.quantity is None):
            return None
        if filters.problems or not filters.is_trading or filters.price_filter is None:
            return None
        if (filters.market_lot_size if profile.order_type is OrderType.MARKET else filters.lot_size) is None:
            return None
        return cls(profile, side, filters, mode)

    @property
    def position_side(self) -> PositionSide:
        return self._hedge_side

    def fixed_params(self) -> dict[str, str]:
        """The params every entry of this plan sends unchanged (``OrderRequest.params`` minus the
        quantity, the LIMIT price and the client id)."""
        params = {"symbol": self.symbol, "side": self.side.value, "type": self.order_type.value}
        if self.time_in_force is not None:
            params["timeInForce"] = self.time_in_force.value
        if self._hedge_side is not PositionSide.BOTH:
            params["positionSide"] = self._hedge_side.value
        if self.order_type is OrderType.MARKET:
            params["newOrderRespType"] = "RESULT"
        return params

    def size(self, best_bid: Decimal, best_ask: Decimal, mark_price: Decimal) -> SizedEntry | None:
        """The entry at these prices, or None when any filter check fails (see the module doc)."""
        if not (best_bid.is_finite() and best_ask.is_finite() and mark_price.is_finite()
                and best_bid > 0 and best_ask > 0 and mark_price > 0):
            return None
        buy = self.buy
        price: Decimal | None
        if self.order_type is OrderType.LIMIT:
            if buy:
                price = round_to_tick(best_bid - self._limit_offset * self._tick, self._tick, Direction.DOWN,
                                      self._min_price)
            else:
                price = round_to_tick(best_ask + self._limit_offset * self._tick, self._tick, Direction.UP,
                                      self._min_price)
            if price <= 0 or price < self._min_price:
                return None
            max_price = self.filters.max_price
            if max_price and price > max_price:
                return None
            sizing = notional_price = price
        else:
            price = None
            sizing = best_ask if buy else best_bid
            notional_price = mark_price
        if self._band_up is not None:
            if buy:
                if sizing > multiply(mark_price, self._band_up):
                    return None
            elif sizing < multiply(mark_price, self._band_down):  # type: ignore[arg-type]
                return None
        raw = divide_floor(self._notional, sizing) if self._notional is not None else self._fixed_qty
        assert raw is not None
        if raw < self._min_qty:
            return None
        try:
            quantity = raw.quantize(self._step, rounding=ROUND_FLOOR) if self._quantize \
                else floor_to_step(raw, self._step, self._min_qty)
        except ArithmeticError:   # beyond 28 digits: not an order anyone meant
            return None
        if quantity <= 0 or (self._max_qty and quantity > self._max_qty):
            return None
        if self._min_notional is not None and multiply(quantity, notional_price) < self._min_notional:
            return None
        return SizedEntry(quantity, format_decimal(quantity), price,
                          None if price is None else format_decimal(price), quantity * sizing)

    def request(self, sized: SizedEntry, client_id: str) -> OrderRequest:
        """The ``OrderRequest`` for a sized entry. ``size`` made every check ``__post_init__`` makes
        (positive finite quantity, LIMIT price and time in force) and the client id is our own."""
        fields = self._fields.copy()
        fields["quantity"], fields["client_order_id"] = sized.quantity, client_id
        if sized.price is not None:
            fields["price"] = sized.price
        return OrderRequest.prechecked(fields)
