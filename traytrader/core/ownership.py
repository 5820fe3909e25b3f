"""Which orders, positions and stops are ours: one pure function of facts the exchange shows again.

The promise "every position of ours has a stop" needs "ours" to survive everything that can happen
between an order and its stop: a LIMIT that rests and fills an hour later, the second leg of a
reverse, an order whose answer was lost, a crash and a restart. So it is never a flag remembered in
memory; it is read off the client ids the exchange reports back on every order, trade and algo
order (``ORDER_TRADE_UPDATE.o.c``, ``order.status``, ``openOrders``, ``allOrders``,
``openAlgoOrders``):

* ``tt-…``: an order the engine sent (``core.orders.ClientIds("tt", …)``): entries, and the closes
  of the close/flatten keys and the ASL. A fill of one that opens or adds to a position makes that
  part of the position ours; reduce-only fills only reduce.
* ``ttasl-…``: a protective stop the ASL placed (``core.asl.ASL_ID_PREFIX``); ``ttasl-p…`` is one of
  a profile's take-profits (``core.asl_takeprofit``), reduce-only like the stops, never a stop.

A position is ours when the order that last opened or added to it is ours (``position_is_ours``).
Positions opened elsewhere are protected only with ``protect_external_positions``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

ORDER_PREFIX = "tt-"
STOP_PREFIX = "ttasl-"
TAKE_PROFIT_PREFIX = "ttasl-p"   # core.asl_takeprofit.TP_ID_PREFIX
#: The statuses of an order that has traded at least once.
_TRADED = frozenset({"FILLED", "PARTIALLY_FILLED"})
_ZERO = Decimal(0)


def is_our_entry(client_id: str) -> bool:
    """An order the engine sent (entries and closes alike; see the module docstring)."""
    return isinstance(client_id, str) and client_id.startswith(ORDER_PREFIX)


def is_our_stop(client_algo_id: str) -> bool:
    """An algo order of ours: a stop, or a take-profit (``is_our_take_profit``)."""
    return isinstance(client_algo_id, str) and client_algo_id.startswith(STOP_PREFIX)


def is_our_take_profit(client_algo_id: str) -> bool:
    return isinstance(client_algo_id, str) and client_algo_id.startswith(TAKE_PROFIT_PREFIX)


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else _ZERO
    except (InvalidOperation, ValueError):
        return _ZERO


def opens(order: Mapping[str, Any], direction: int) -> bool:
    """Whether ``order`` (an ``allOrders``/``order.status`` row) traded in the direction that opens
    or adds to a position of sign ``direction`` (+1 long, -1 short): a BUY for a long, a SELL for
    a short, not reduce-only, not closing a hedge-mode position, and at least partly filled."""
    side = str(order.get("side", ""))
    if order.get("reduceOnly") in (True, "true") or order.get("closePosition") in (True, "true"):
        return False
    if str(order.get("status", "")) not in _TRADED or _decimal(order.get("executedQty")) <= 0:
        return False
    position_side = str(order.get("positionSide") or "BOTH")
    if position_side == "LONG":
        return side == "BUY" and direction > 0
    if position_side == "SHORT":
        return side == "SELL" and direction < 0
    return side == ("BUY" if direction > 0 else "SELL")


def position_is_ours(orders: Iterable[Mapping[str, Any]], direction: int,
                     position_side: str = "BOTH") -> bool:
    """Whether the position of sign ``direction`` on ``position_side`` is ours, from the symbol's
    recent orders as the exchange lists them (``GET /fapi/v1/allOrders``): the latest order that
    opened or added to it carries our client id."""
    latest: tuple[int, bool] | None = None
    for order in orders:
        if not isinstance(order, Mapping) or not opens(order, direction):
            continue
        if str(order.get("positionSide") or "BOTH") != position_side:
            continue
        stamp = order.get("updateTime") or order.get("time") or 0
        at = stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else 0
        if latest is None or at >= latest[0]:
            latest = (at, is_our_entry(str(order.get("clientOrderId", ""))))
    return latest is not None and latest[1]
