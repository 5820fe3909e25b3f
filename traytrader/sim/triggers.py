"""Algo-order trigger rules (pure), as documented in New-Algo-Order (REST and WS, 2025-12):

* STOP / STOP_MARKET: BUY triggers when the working price >= triggerPrice, SELL when <= it.
* TAKE_PROFIT / TAKE_PROFIT_MARKET: BUY when <= triggerPrice, SELL when >= it.
* TRAILING_STOP_MARKET SELL: the highest price since placement >= activatePrice, and the latest
  price <= highest * (1 - callbackRate/100). BUY mirrors it with the lowest price and (1 + rate).
  ``activatePrice`` defaults to the latest price of the working type; placement is refused with -2021
  when BUY activatePrice >= latest or SELL activatePrice <= latest.
"""

from __future__ import annotations

from decimal import Decimal

from traytrader.sim.state import AlgoOrder


def stop_hit(type_: str, side: str, trigger: Decimal, price: Decimal) -> bool:
    if type_ in ("STOP", "STOP_MARKET"):
        return price >= trigger if side == "BUY" else price <= trigger
    if type_ in ("TAKE_PROFIT", "TAKE_PROFIT_MARKET"):
        return price <= trigger if side == "BUY" else price >= trigger
    return False


def would_trigger_now(a: AlgoOrder, price: Decimal) -> bool:
    """The -2021 placement check."""
    if a.type == "TRAILING_STOP_MARKET":
        if a.activate_price is None:
            return False
        return a.activate_price >= price if a.side == "BUY" else a.activate_price <= price
    return stop_hit(a.type, a.side, a.trigger_price, price)


def observe(a: AlgoOrder, price: Decimal) -> tuple[bool, bool]:
    """Feed one working price to an open algo order; return (just_activated, triggers_now).

    For trailing stops this updates the tracked extreme and the activation flag in place.
    """
    if a.type != "TRAILING_STOP_MARKET":
        return False, stop_hit(a.type, a.side, a.trigger_price, price)
    assert a.callback_rate is not None
    rate = a.callback_rate / 100
    activate = a.activate_price if a.activate_price is not None else a.extreme
    just = False
    if a.side == "SELL":
        a.extreme = max(a.extreme, price)
        if not a.activated and a.extreme >= activate:
            a.activated = just = True
        return just, a.activated and price <= a.extreme * (1 - rate)
    a.extreme = min(a.extreme, price)
    if not a.activated and a.extreme <= activate:
        a.activated = just = True
    return just, a.activated and price >= a.extreme * (1 + rate)
