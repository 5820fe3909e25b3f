"""The order builder on the hot path: a profile plus market prices become a validated request.

Every function here either returns a request that satisfies every filter of its symbol, or raises
``InvalidOrder`` with one sentence that names the filter and by how much the order misses it. All
arithmetic is ``Decimal``; every rounding has an explicit, documented direction:

* quantities are floored to the step (an order never exceeds the size the user asked for);
* a LIMIT buy price rounds down and a LIMIT sell price rounds up (never pay more than asked);
* a protective stop's trigger rounds towards the market (a long's stop up, a short's down), so the
  stop is never looser than asked; a trailing stop's activation price likewise rounds towards the
  market and its callback rate is floored to 0.01 %.

Mode rules (protocol notes 5 and 3.1): ``positionSide`` is sent only in hedge mode (LONG/SHORT);
``reduceOnly`` is sent only in one-way mode and only on reducing orders, since Binance answers
-1106 when it is sent in hedge mode. Protective stops carry an explicit quantity, never
``closePosition`` (a second closePosition stop is refused with -4130, which would make the
place-new-then-cancel-old overlap impossible).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from traytrader.core.decimals import (
    Direction,
    ceil_to_step,
    divide_ceil,
    divide_floor,
    floor_to_step,
    format_decimal,
    multiply,
    round_to_tick,
)
from traytrader.core.errors import InvalidOrder
from traytrader.core.filters import LotSize, SymbolFilters
from traytrader.core.models import (
    OrderType,
    PositionMode,
    PositionSide,
    Profile,
    Side,
    TimeInForce,
    WorkingType,
)

# Binance's rule for newClientOrderId / clientAlgoId (New-Order.md, New-Algo-Order.md).
CLIENT_ID_PATTERN = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
# What we generate: the same minus ':' and '/', whose signing form is UNCONFIRMED (notes 1.6).
_OWN_ID_CHARS = re.compile(r"^[.A-Za-z0-9_-]*$")
_CHECKED_ID_PARTS: set[tuple[str, str]] = set()   # (prefix, session) pairs already validated

# Trailing stop callbackRate range, percent. Max raised from 10 to 20 on 2026-10-23 (change-log);
# precision is undocumented, two decimals is the safe choice (notes section 4).
CALLBACK_RATE_MIN = Decimal("0.1")
CALLBACK_RATE_MAX = Decimal("20")
CALLBACK_RATE_STEP = Decimal("0.01")

_ZERO = Decimal(0)


@dataclass(frozen=True)
class OrderRequest:
    """One ``order.place`` request. ``position_side`` BOTH means one-way mode (not sent)."""

    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal
    price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    position_side: PositionSide = PositionSide.BOTH
    reduce_only: bool = False
    client_order_id: str = ""
    resp_type: str = ""  # "" = RESULT for MARKET (final fill in the answer), exchange default otherwise

    def __post_init__(self) -> None:
        if self.reduce_only and self.position_side is not PositionSide.BOTH:
            raise InvalidOrder("reduceOnly cannot be sent in hedge mode.", filter_name="reduceOnly")
        if self.type is OrderType.LIMIT and (self.price is None or self.time_in_force is None):
            raise InvalidOrder("A LIMIT order needs a price and a time in force.", filter_name="LIMIT")
        if self.type is OrderType.MARKET and (self.price is not None or self.time_in_force is not None):
            raise InvalidOrder("A MARKET order takes neither a price nor a time in force.",
                               filter_name="MARKET")
        if not (self.quantity.is_finite() and self.quantity > 0):
            raise InvalidOrder(f"An order quantity must be positive, not {self.quantity}.",
                               filter_name="quantity")
        if self.client_order_id:
            check_client_id(self.client_order_id)

    @classmethod
    def prechecked(cls, fields: dict[str, Any]) -> OrderRequest:
        """An instance made without ``__post_init__``, for a builder that guarantees its checks
        (``EntryPlan``, held equal to ``build_entry_order`` by a property test): one dict update
        instead of ten frozen-attribute writes and the checks on every keypress."""
        request = object.__new__(cls)
        request.__dict__.update(fields)
        return request

    def params(self) -> dict[str, str]:
        """The request's params in Binance's names, every value a string (DECIMALs canonical)."""
        params = {"symbol": self.symbol, "side": self.side.value, "type": self.type.value,
                  "quantity": format_decimal(self.quantity)}
        if self.price is not None:
            params["price"] = format_decimal(self.price)
        if self.time_in_force is not None:
            params["timeInForce"] = self.time_in_force.value
        if self.position_side is not PositionSide.BOTH:
            params["positionSide"] = self.position_side.value
        if self.reduce_only:
            params["reduceOnly"] = "true"
        if self.client_order_id:
            params["newClientOrderId"] = self.client_order_id
        resp_type = self.resp_type or ("RESULT" if self.type is OrderType.MARKET else "")
        if resp_type:
            params["newOrderRespType"] = resp_type
        return params


@dataclass(frozen=True)
class AlgoOrderRequest:
    """One ``algoOrder.place`` request: STOP_MARKET (``trigger_price``) or TRAILING_STOP_MARKET
    (``callback_rate`` in percent, optional ``activate_price``). Always an explicit quantity."""

    symbol: str
    side: Side
    type: str
    quantity: Decimal
    client_algo_id: str
    working_type: WorkingType = WorkingType.MARK_PRICE
    trigger_price: Decimal | None = None
    callback_rate: Decimal | None = None
    activate_price: Decimal | None = None
    position_side: PositionSide = PositionSide.BOTH
    reduce_only: bool = True
    price_protect: bool = False

    def __post_init__(self) -> None:
        if self.reduce_only and self.position_side is not PositionSide.BOTH:
            raise InvalidOrder("reduceOnly cannot be sent in hedge mode.", filter_name="reduceOnly")
        check_client_id(self.client_algo_id)

    def params(self) -> dict[str, str]:
        params = {"algoType": "CONDITIONAL", "symbol": self.symbol, "side": self.side.value,
                  "type": self.type, "quantity": format_decimal(self.quantity),
                  "workingType": self.working_type.value, "clientAlgoId": self.client_algo_id}
        if self.trigger_price is not None:
            params["triggerPrice"] = format_decimal(self.trigger_price)
        if self.callback_rate is not None:
            params["callbackRate"] = format_decimal(self.callback_rate)
        if self.activate_price is not None:
            params["activatePrice"] = format_decimal(self.activate_price)
        if self.position_side is not PositionSide.BOTH:
            params["positionSide"] = self.position_side.value
        if self.reduce_only:
            params["reduceOnly"] = "true"
        if self.price_protect:
            params["priceProtect"] = "true"
        return params


# --- client ids --------------------------------------------------------------------------------------

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(number: int) -> str:
    if number < 0:
        raise ValueError("base36 needs a non-negative number.")
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _BASE36[rest] + digits
        if not number:
            return digits


def session_tag(entropy: bytes, length: int = 4) -> str:
    """A short tag from random bytes (pass ``os.urandom(4)``): tells apart processes started in the
    same millisecond."""
    return base36(int.from_bytes(entropy, "big")).rjust(length, "0")[-length:]


def new_client_id(prefix: str, counter: int, now_ms: int, session: str = "") -> str:
    """``<prefix>-<now_ms base36>-<session>-<counter base36>``: unique across restarts (time),
    processes (``session``) and within one process (``counter``).

    Uses only ``[.A-Za-z0-9_-]``: ':' and '/' are legal for Binance but the SDK percent-encodes
    them when signing and the docs do not, so which form the server checks is unconfirmed.
    """
    if (prefix, session) not in _CHECKED_ID_PARTS:
        if not _OWN_ID_CHARS.match(prefix) or not _OWN_ID_CHARS.match(session):
            raise ValueError("Client id prefixes and session tags may use only letters, digits, "
                             "'.', '_', '-'.")
        if len(_CHECKED_ID_PARTS) < 64:
            _CHECKED_ID_PARTS.add((prefix, session))
    middle = f"{session}-" if session else ""
    client_id = f"{prefix}-{base36(now_ms)}-{middle}{base36(counter)}"
    if len(client_id) > 36:
        raise ValueError(f"The client id {client_id!r} is longer than Binance's 36 characters.")
    return client_id


class ClientIds:
    """``new_client_id`` for one process, with the time taken once at start: the same uniqueness
    (start time across restarts, ``session`` across processes, counter within) for a string
    concatenation per keypress instead of a clock read and two base-36 conversions."""

    __slots__ = ("_counter", "_head")

    def __init__(self, prefix: str, now_ms: int, session: str = "") -> None:
        self._head = new_client_id(prefix, 0, now_ms, session)[:-1]
        self._counter = 0

    def next(self) -> str:
        self._counter += 1
        return self._head + base36(self._counter)


def check_client_id(client_id: str) -> None:
    if not CLIENT_ID_PATTERN.match(client_id):
        raise InvalidOrder(
            f"The client order id {client_id!r} does not match Binance's rule "
            "(1 to 36 of letters, digits, '.', ':', '/', '_' and '-').",
            filter_name="newClientOrderId",
        )


# --- checks (shared by every builder) ----------------------------------------------------------------


def _positive(value: Decimal, what: str, symbol: str) -> None:
    if not value.is_finite() or value <= 0:
        raise InvalidOrder(f"There is no valid {what} for {symbol} yet (got {value}).", filter_name="market")


def _shown(raw: Decimal, lot: LotSize) -> str:
    """``raw`` for a message: four digits finer than the step is plenty (a quotient has 60)."""
    finer = lot.step_size.scaleb(-4) if lot.step_size else Decimal("1e-12")
    return format_decimal(raw if raw >= 1 or raw.as_tuple().exponent >= finer.as_tuple().exponent
                          else raw.quantize(finer, rounding=ROUND_FLOOR))


def _check_quantity(quantity: Decimal, raw: Decimal, lot: LotSize, filters: SymbolFilters,
                    sized_from: str = "") -> None:
    """Min/max quantity. ``sized_from`` ("50 USDT at 60000") explains where ``raw`` came from."""
    unit = filters.base_asset or "units"
    if quantity <= 0 or quantity < lot.min_qty:
        what = f"{sized_from} buys only {_shown(raw, lot)} {unit}, which" if sized_from else \
            f"{_shown(raw, lot)} {unit}"
        raise InvalidOrder(
            f"{what} is below {filters.symbol}'s minimum quantity of "
            f"{format_decimal(lot.min_qty)} {unit} ({lot.name}).",
            filter_name=lot.name,
        )
    if lot.max_qty and quantity > lot.max_qty:
        raise InvalidOrder(
            f"{format_decimal(quantity)} {unit} is above {filters.symbol}'s maximum quantity of "
            f"{format_decimal(lot.max_qty)} {unit} ({lot.name}).",
            filter_name=lot.name,
        )


def _check_price_range(price: Decimal, filters: SymbolFilters, what: str = "price") -> None:
    if price <= 0 or price < filters.min_price:
        raise InvalidOrder(
            f"The {what} {format_decimal(price)} is below {filters.symbol}'s minimum price of "
            f"{format_decimal(filters.min_price)} (PRICE_FILTER).",
            filter_name="PRICE_FILTER",
        )
    if filters.max_price and price > filters.max_price:
        raise InvalidOrder(
            f"The {what} {format_decimal(price)} is above {filters.symbol}'s maximum price of "
            f"{format_decimal(filters.max_price)} (PRICE_FILTER).",
            filter_name="PRICE_FILTER",
        )


def _check_percent_price(side: Side, price: Decimal, mark_price: Decimal, filters: SymbolFilters,
                         what: str = "price") -> None:
    """PERCENT_PRICE as documented: BUY ``price <= mark*up``, SELL ``price >= mark*down``."""
    band = filters.percent_price
    if band is None:
        return
    if side is Side.BUY:
        cap = multiply(mark_price, band.multiplier_up)
        if price > cap:
            raise InvalidOrder(
                f"The {what} {format_decimal(price)} is {format_decimal(price - cap)} above "
                f"{filters.symbol}'s cap of {format_decimal(cap)} "
                f"(mark price × {format_decimal(band.multiplier_up)}, PERCENT_PRICE).",
                filter_name="PERCENT_PRICE",
            )
    else:
        floor = multiply(mark_price, band.multiplier_down)
        if price < floor:
            raise InvalidOrder(
                f"The {what} {format_decimal(price)} is {format_decimal(floor - price)} below "
                f"{filters.symbol}'s floor of {format_decimal(floor)} "
                f"(mark price × {format_decimal(band.multiplier_down)}, PERCENT_PRICE).",
                filter_name="PERCENT_PRICE",
            )


def _check_min_notional(quantity: Decimal, price: Decimal, filters: SymbolFilters) -> None:
    if filters.min_notional is None:
        return
    notional = multiply(quantity, price)
    if notional < filters.min_notional:
        quote = filters.quote_asset
        raise InvalidOrder(
            f"{format_decimal(notional)} {quote} is below {filters.symbol}'s minimum notional of "
            f"{format_decimal(filters.min_notional)} {quote} (MIN_NOTIONAL).",
            filter_name="MIN_NOTIONAL",
        )


# --- builders ------------------------------------------------------------------------------------------


def limit_price(side: Side, best_bid: Decimal, best_ask: Decimal, offset_ticks: int,
                filters: SymbolFilters) -> Decimal:
    """A LIMIT order's price: BUY at ``best_bid - offset*tick`` rounded down, SELL at ``best_ask +
    offset*tick`` rounded up. A positive offset is further from the market (more passive, less
    likely to fill); 0 joins the best price on our own side; a negative offset moves towards and,
    past the spread, through the market."""
    tick = filters.tick_size
    if side is Side.BUY:
        return round_to_tick(best_bid - offset_ticks * tick, tick, Direction.DOWN, filters.min_price)
    return round_to_tick(best_ask + offset_ticks * tick, tick, Direction.UP, filters.min_price)


def build_entry_order(
    profile: Profile,
    side: Side,
    filters: SymbolFilters,
    best_bid: Decimal,
    best_ask: Decimal,
    mark_price: Decimal,
    mode: PositionMode,
    client_order_id: str,
) -> OrderRequest:
    """The order one BUY/SELL keypress sends for ``profile``.

    Size: ``notional_usdt / reference price`` floored to the step, or the profile's fixed quantity
    floored. The reference price is the LIMIT price itself, or for MARKET the price we expect to
    take (ask for BUY, bid for SELL), so the order's notional never exceeds the profile's size.
    Steps come from MARKET_LOT_SIZE for MARKET and LOT_SIZE for LIMIT. MIN_NOTIONAL is checked at
    the LIMIT price, or at the mark price for MARKET (Binance's rule). PERCENT_PRICE is checked for
    the LIMIT price, and for MARKET on the best opposite price (else Binance answers -4131).
    """
    if profile.symbol != filters.symbol:
        raise InvalidOrder(
            f"Profile {profile.name!r} trades {profile.symbol}, not {filters.symbol}.", filter_name="symbol"
        )
    order_type = profile.order_type
    filters.require_tradable(order_type)
    symbol = filters.symbol
    _positive(best_bid, "best bid", symbol)
    _positive(best_ask, "best ask", symbol)
    _positive(mark_price, "mark price", symbol)
    lot = filters.lot_for(order_type)

    if order_type is OrderType.LIMIT:
        price: Decimal | None = limit_price(side, best_bid, best_ask, profile.limit_offset_ticks, filters)
        _check_price_range(price, filters)
        _check_percent_price(side, price, mark_price, filters)
        sizing_price = notional_price = price
    else:
        price = None
        sizing_price = best_ask if side is Side.BUY else best_bid
        _check_percent_price(side, sizing_price, mark_price, filters, what="best opposite price")
        notional_price = mark_price

    if profile.notional_usdt is not None:
        raw = divide_floor(profile.notional_usdt, sizing_price)
    elif profile.quantity is not None:
        raw = profile.quantity
    else:
        raise InvalidOrder(f"Profile {profile.name!r} has neither a notional size nor a quantity.",
                           filter_name="profile")
    quantity = floor_to_step(raw, lot.step_size, lot.min_qty) if raw >= lot.min_qty else raw
    sized_from = ""
    if profile.notional_usdt is not None and (quantity <= 0 or quantity < lot.min_qty):
        # Only the refusal needs the explanation: formatting it on every keypress costs ~3 µs.
        sized_from = (f"{format_decimal(profile.notional_usdt)} {filters.quote_asset} "
                      f"at {format_decimal(sizing_price)}")
    _check_quantity(quantity, raw, lot, filters, sized_from)
    _check_min_notional(quantity, notional_price, filters)

    hedge = mode is PositionMode.HEDGE
    return OrderRequest(
        symbol=symbol,
        side=side,
        type=order_type,
        quantity=quantity,
        price=price,
        time_in_force=profile.time_in_force if order_type is OrderType.LIMIT else None,
        position_side=(PositionSide.LONG if side is Side.BUY else PositionSide.SHORT) if hedge
        else PositionSide.BOTH,
        client_order_id=client_order_id,
    )


def minimum_notional_for(filters: SymbolFilters, price: Decimal,
                         order_type: OrderType = OrderType.MARKET) -> Decimal:
    """The smallest profile notional (in the quote asset) that yields a valid order at ``price``:
    enough for the minimum quantity and for MIN_NOTIONAL. Useful in a "raise your size" hint."""
    lot = filters.lot_for(order_type)
    need_qty = lot.min_qty
    if filters.min_notional:
        by_notional = ceil_to_step(divide_ceil(filters.min_notional, price), lot.step_size, lot.min_qty)
        need_qty = max(need_qty, by_notional)
    return multiply(need_qty, price)


def _closing(position_qty: Decimal, position_side: PositionSide, mode: PositionMode,
             symbol: str) -> tuple[Side, PositionSide, bool]:
    """(order side, positionSide to send, reduceOnly) for an order that reduces the position."""
    if position_qty == 0:
        raise InvalidOrder(f"There is no {symbol} position to close.", filter_name="position")
    if mode is PositionMode.HEDGE:
        if position_side is PositionSide.BOTH:
            raise InvalidOrder("In hedge mode a position is LONG or SHORT, not BOTH.",
                               filter_name="positionSide")
        # Binance reports a hedge SHORT's positionAmt as negative; accept either sign for it.
        if position_side is PositionSide.LONG and position_qty < 0:
            raise InvalidOrder(f"A LONG {symbol} position cannot have a negative quantity.",
                               filter_name="positionSide")
        side = Side.SELL if position_side is PositionSide.LONG else Side.BUY
        return side, position_side, False
    if position_side is not PositionSide.BOTH:
        raise InvalidOrder("In one-way mode the position side is BOTH.", filter_name="positionSide")
    return (Side.SELL if position_qty > 0 else Side.BUY), PositionSide.BOTH, True


def build_close_order(
    symbol: str,
    position_qty: Decimal,
    position_side: PositionSide,
    filters: SymbolFilters,
    mode: PositionMode,
    client_order_id: str,
) -> OrderRequest:
    """A reduce-only MARKET order closing the position (``position_qty`` signed: > 0 long).

    One-way: ``reduceOnly=true``; hedge: ``positionSide`` only. MIN_NOTIONAL does not apply to
    reducing orders. A position larger than MARKET_LOT_SIZE's maximum is closed up to that maximum:
    compare ``request.quantity`` with the position and send another close for the remainder.
    """
    if symbol != filters.symbol:
        raise InvalidOrder(f"The filters given are for {filters.symbol}, not {symbol}.", filter_name="symbol")
    filters.require_tradable(OrderType.MARKET)
    side, send_side, reduce_only = _closing(position_qty, position_side, mode, symbol)
    lot = filters.lot_for(OrderType.MARKET)
    raw = abs(position_qty)
    quantity = floor_to_step(raw, lot.step_size, lot.min_qty) if raw >= lot.min_qty else raw
    if lot.max_qty and quantity > lot.max_qty:
        quantity = lot.max_qty
    _check_quantity(quantity, raw, lot, filters)
    return OrderRequest(symbol=symbol, side=side, type=OrderType.MARKET, quantity=quantity,
                        position_side=send_side, reduce_only=reduce_only, client_order_id=client_order_id)


def build_stop_order(
    symbol: str,
    position_qty: Decimal,
    position_side: PositionSide,
    filters: SymbolFilters,
    mode: PositionMode,
    client_algo_id: str,
    *,
    trigger_price: Decimal | None = None,
    callback_rate: Decimal | None = None,
    activate_price: Decimal | None = None,
    working_type: WorkingType = WorkingType.MARK_PRICE,
    mark_price: Decimal | None = None,
) -> AlgoOrderRequest:
    """A protective algo order for the position: give ``trigger_price`` for a STOP_MARKET, or
    ``callback_rate`` (percent, 0.1..20) and optionally ``activate_price`` for a TRAILING_STOP_MARKET.

    Rounding is towards the market so the stop is never looser than asked: a long's trigger and a
    short's activation round up, a short's trigger and a long's activation round down; the callback
    rate is floored to 0.01. With ``mark_price`` given, a stop that would trigger at once is refused
    (Binance: -2021). The quantity is the whole position floored to the MARKET_LOT_SIZE step; a
    position above its maximum is refused rather than protected only in part.
    """
    if symbol != filters.symbol:
        raise InvalidOrder(f"The filters given are for {filters.symbol}, not {symbol}.", filter_name="symbol")
    if (trigger_price is None) == (callback_rate is None):
        raise InvalidOrder("A stop needs exactly one of a trigger price and a callback rate.",
                           filter_name="stop")
    filters.require_tradable(OrderType.MARKET)
    side, send_side, reduce_only = _closing(position_qty, position_side, mode, symbol)
    lot = filters.lot_for(OrderType.MARKET)
    raw = abs(position_qty)
    quantity = floor_to_step(raw, lot.step_size, lot.min_qty) if raw >= lot.min_qty else raw
    _check_quantity(quantity, raw, lot, filters)
    closes_long = side is Side.SELL
    tick = filters.tick_size

    if trigger_price is not None:
        _positive(trigger_price, "trigger price", symbol)
        trigger = round_to_tick(trigger_price, tick, Direction.UP if closes_long else Direction.DOWN,
                                filters.min_price)
        _check_price_range(trigger, filters, what="trigger price")
        if mark_price is not None and (trigger >= mark_price if closes_long else trigger <= mark_price):
            raise InvalidOrder(
                f"The stop at {format_decimal(trigger)} would trigger at once: the mark price is "
                f"{format_decimal(mark_price)}.",
                filter_name="triggerPrice",
            )
        return AlgoOrderRequest(symbol=symbol, side=side, type="STOP_MARKET", quantity=quantity,
                                client_algo_id=client_algo_id, working_type=working_type,
                                trigger_price=trigger, position_side=send_side, reduce_only=reduce_only)

    assert callback_rate is not None
    if not (callback_rate.is_finite() and CALLBACK_RATE_MIN <= callback_rate <= CALLBACK_RATE_MAX):
        raise InvalidOrder(
            f"A callback rate of {callback_rate}% is outside Binance's range of "
            f"{format_decimal(CALLBACK_RATE_MIN)}% to {format_decimal(CALLBACK_RATE_MAX)}%.",
            filter_name="callbackRate",
        )
    rate = callback_rate.quantize(CALLBACK_RATE_STEP, rounding=ROUND_FLOOR)
    activate = None
    if activate_price is not None:
        _positive(activate_price, "activation price", symbol)
        activate = round_to_tick(activate_price, tick, Direction.DOWN if closes_long else Direction.UP,
                                 filters.min_price)
        _check_price_range(activate, filters, what="activation price")
        # -2021 rule (notes section 4): a SELL activates above the latest price, a BUY below it.
        if mark_price is not None and (activate <= mark_price if closes_long else activate >= mark_price):
            raise InvalidOrder(
                f"The activation price {format_decimal(activate)} must be "
                f"{'above' if closes_long else 'below'} the mark price {format_decimal(mark_price)}.",
                filter_name="activatePrice",
            )
    return AlgoOrderRequest(symbol=symbol, side=side, type="TRAILING_STOP_MARKET", quantity=quantity,
                            client_algo_id=client_algo_id, working_type=working_type, callback_rate=rate,
                            activate_price=activate, position_side=send_side, reduce_only=reduce_only)


def build_take_profit_order(
    symbol: str,
    position_qty: Decimal,
    quantity: Decimal,
    position_side: PositionSide,
    filters: SymbolFilters,
    mode: PositionMode,
    client_algo_id: str,
    trigger_price: Decimal,
    working_type: WorkingType = WorkingType.MARK_PRICE,
) -> AlgoOrderRequest:
    """A reduce-only TAKE_PROFIT_MARKET closing ``quantity`` (unsigned, floored to the step) of the
    signed position ``position_qty`` at ``trigger_price``, rounded away from the entry side (a
    long's up, a short's down: never less profit than asked)."""
    if symbol != filters.symbol:
        raise InvalidOrder(f"The filters given are for {filters.symbol}, not {symbol}.", filter_name="symbol")
    filters.require_tradable(OrderType.MARKET)
    side, send_side, reduce_only = _closing(position_qty, position_side, mode, symbol)
    lot = filters.lot_for(OrderType.MARKET)
    raw = min(abs(quantity), abs(position_qty))
    size = floor_to_step(raw, lot.step_size, lot.min_qty) if raw >= lot.min_qty else raw
    _check_quantity(size, raw, lot, filters)
    _positive(trigger_price, "trigger price", symbol)
    closes_long = side is Side.SELL
    trigger = round_to_tick(trigger_price, filters.tick_size, Direction.UP if closes_long else Direction.DOWN,
                            filters.min_price)
    _check_price_range(trigger, filters, what="trigger price")
    return AlgoOrderRequest(symbol=symbol, side=side, type="TAKE_PROFIT_MARKET", quantity=size,
                            client_algo_id=client_algo_id, working_type=working_type, trigger_price=trigger,
                            position_side=send_side, reduce_only=reduce_only)
