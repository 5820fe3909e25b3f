"""Writes that act on several orders at once: ``batchOrders`` (place, modify, cancel up to five) and
``countdownCancelAll`` (the dead-man's switch).

Documented behaviour (USDⓈ-M "Place Multiple Orders", "Modify Multiple Orders", "Cancel Multiple
Orders", "Auto-Cancel All Open Orders"): ``batchOrders`` is a JSON list of at most 5 orders; the
answer is a list in the same order whose items are either the order or ``{"code", "msg"}`` for the
one that failed (the others still go through). ``countdownCancelAll`` arms a per-symbol countdown;
when it runs out every open order of that symbol is canceled; ``countdownTime`` 0 disarms it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from traytrader.sim.errors import SimError, err, missing
from traytrader.sim.validation import known_symbol, text

if TYPE_CHECKING:
    from traytrader.sim.endpoints import Ctx

MAX_BATCH = 5


def _json_list(c: Ctx, name: str, most: int = MAX_BATCH) -> list:
    raw = c.params.get(name)
    if raw in (None, ""):
        raise missing(name)
    try:
        items = json.loads(raw) if isinstance(raw, str) else raw
    except (ValueError, RecursionError):
        raise err(-1130, name) from None
    if not isinstance(items, list) or not items or len(items) > most:
        raise err(-1130, name)
    return items


def _each(c: Ctx, items: list, act: Any) -> list:
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            out.append({"code": -1130, "msg": f"Data sent for parameter 'batchOrders[{i}]' is not valid."})
            continue
        try:
            out.append(act({k: v for k, v in item.items() if v is not None}))
        except SimError as e:
            out.append(e.body())
    return out


def place_batch(c: Ctx) -> list:
    items = _json_list(c, "batchOrders")
    for _ in items[1:]:  # the endpoint already counted one order; each further one counts too
        c.sim.limiter.charge_order(c.api_key, c.now_ms)
    return _each(c, items, lambda p: c.ex.place_order(c.api_key, p, c.now_ms))


def modify_batch(c: Ctx) -> list:
    items = _json_list(c, "batchOrders")
    for _ in items[1:]:
        c.sim.limiter.charge_order(c.api_key, c.now_ms)
    return _each(c, items, lambda p: c.ex.modify_order(c.api_key, p, c.now_ms))


def cancel_batch(c: Ctx) -> list:
    sym = known_symbol(c.params, c.ex.specs)
    if c.params.get("orderIdList") not in (None, ""):
        ids = _json_list(c, "orderIdList", 10)
        items = [{"symbol": sym, "orderId": str(i)} for i in ids]
    else:
        ids = _json_list(c, "origClientOrderIdList", 10)
        items = [{"symbol": sym, "origClientOrderId": str(i)} for i in ids]
    return _each(c, items, lambda p: c.ex.cancel_order(c.api_key, p, c.now_ms))


def countdown(c: Ctx) -> dict:
    sym = known_symbol(c.params, c.ex.specs)
    raw = text(c.params, "countdownTime")
    if raw is None:
        raise missing("countdownTime")
    try:
        ms = int(raw)
    except ValueError:
        raise err(-1130, "countdownTime") from None
    if ms < 0:
        raise err(-1130, "countdownTime")
    key = (c.api_key, sym)
    if ms == 0:
        c.sim.countdowns.pop(key, None)
    else:
        c.sim.countdowns[key] = c.now_ms + ms
    return {"symbol": sym, "countdownTime": str(ms)}


def run_countdowns(sim: Any, now_ms: int) -> None:
    """Cancel every open order of each (account, symbol) whose countdown has run out."""
    for (api_key, sym), due in list(sim.countdowns.items()):
        if due <= now_ms:
            del sim.countdowns[(api_key, sym)]
            sim.exchange.cancel_all(api_key, sym, now_ms)
