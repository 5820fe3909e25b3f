"""Binance's JSON shapes for results and user-data events, built from the simulator's records.

Field sets and order follow the real captures in tests/data/real/ (ws_api/, user_stream/):
string decimals, ``E``/``T`` in ms, ``ORDER_TRADE_UPDATE`` with V/pm/gtd/er (2026-02 capture),
``ALGO_UPDATE`` as captured 2025-12 and 2026-09 (with ``ia``).
"""

from __future__ import annotations

from decimal import Decimal

from traytrader.sim.market import SymbolSpec
from traytrader.sim.state import ZERO, Account, AlgoOrder, Order, Position, Quote

_QUANTUM = [Decimal(1).scaleb(-p) for p in range(19)]  # 1, 0.1, ... : built once, not per number


def fixed(d: Decimal, places: int) -> str:
    q = _QUANTUM[places] if 0 <= places < len(_QUANTUM) else Decimal(1).scaleb(-max(places, 0))
    return f"{d.quantize(q):f}"


def plain(d: Decimal) -> str:
    """Shortest plain text for ``d`` ("0", "76915.1", "0.01")."""
    if d == 0:
        return "0"
    s = f"{d.normalize():f}"
    return s


def stripped(d: Decimal, places: int) -> str:
    """Rounded to ``places`` decimals, trailing zeros dropped ("291", "0.04257": ACCOUNT_UPDATE, 2026-09)."""
    return plain(d.quantize(_QUANTUM[places]))


def padded(d: Decimal, places: int) -> str:
    """"0" for zero, else at least ``places`` decimals (``ap`` "84146.50000", ``n`` "3.36586000")."""
    return "0" if d == 0 else at_least(d, places)


def at_least(d: Decimal, places: int) -> str:
    """Fixed to ``places`` decimals, or more when ``d`` needs them."""
    exp = d.as_tuple().exponent
    if isinstance(exp, int) and exp >= -places:  # no more decimals than ``places``: no need to normalize
        return fixed(d, places)
    exp = d.normalize().as_tuple().exponent
    need = -exp if isinstance(exp, int) and exp < 0 else 0
    return fixed(d, max(places, need))


def order_result(o: Order, spec: SymbolSpec) -> dict:
    """``order.place``/``order.status``/``order.cancel`` result (RESULT shape, roq 2025-12 capture)."""
    pp, qp = spec.price_precision, spec.quantity_precision
    return {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status,
        "clientOrderId": o.client_id,
        "price": at_least(o.price, pp),
        "avgPrice": at_least(o.avg_price, pp),
        "origQty": fixed(o.quantity, qp),
        "executedQty": fixed(o.executed, qp),
        "cumQty": fixed(o.executed, qp),
        "cumQuote": at_least(o.cum_quote, 5),
        "timeInForce": o.tif,
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": o.close_position,
        "side": o.side,
        "positionSide": o.position_side,
        "stopPrice": at_least(o.stop_price, pp),
        "workingType": o.working_type,
        "priceProtect": o.price_protect,
        "origType": o.orig_type or o.type,
        "priceMatch": o.price_match,
        "selfTradePreventionMode": o.stp,
        "goodTillDate": o.good_till,
        "updateTime": o.update_ms,
    }


def order_query(o: Order, spec: SymbolSpec) -> dict:
    """``GET /fapi/v1/order`` / ``order.status``: the result plus ``time``."""
    r = order_result(o, spec)
    r["time"] = o.create_ms
    return r


def order_trade_update(
    o: Order,
    spec: SymbolSpec,
    x: str,
    now_ms: int,
    *,
    last_qty: Decimal = ZERO,
    last_price: Decimal = ZERO,
    fee: Decimal = ZERO,
    trade_id: int = 0,
    maker: bool = False,
    realized: Decimal = ZERO,
    amend: int | str | None = None,
) -> dict:
    """Number formats as captured live (2025-03 BTCUSDT, 2021 XRPUSDT fills): ``ap`` 5 decimals,
    ``L`` the symbol's pricePrecision, ``n`` and ``rp`` 8, each "0" when zero. ``M`` (modifyId) only
    on an AMENDMENT whose request carried ``modifyId``."""
    qp, pp = spec.quantity_precision, spec.price_precision
    body = {
        "s": o.symbol,
        "c": o.client_id,
        "S": o.side,
        "o": o.type,
        "f": o.tif,
        "q": fixed(o.quantity, qp),
        "p": plain(o.price),
        "ap": padded(o.avg_price, 5),
        "sp": plain(o.stop_price),
        "x": x,
        "X": o.status,
        "i": o.order_id,
        "l": plain(last_qty),
        "z": plain(o.executed),
        "L": padded(last_price, pp),
        "n": padded(fee, 8),
        "N": "USDT",
        "T": now_ms,
        "t": trade_id,
        "b": "0",
        "a": "0",
        "m": maker,
        "R": o.reduce_only,
        "wt": o.working_type,
        "ot": o.orig_type or o.type,
        "ps": o.position_side,
        "cp": o.close_position,
        "rp": padded(realized, 8),
        "pP": o.price_protect,
        "si": 0,
        "ss": 0,
        "V": o.stp,
        "pm": o.price_match,
        "gtd": o.good_till,
        "er": "0",
    }
    if amend is not None:
        body["M"] = str(amend)
    return {"e": "ORDER_TRADE_UPDATE", "T": now_ms, "E": now_ms, "o": body}


def trade_lite(
    o: Order, spec: SymbolSpec, qty: Decimal, price: Decimal, trade_id: int, maker: bool, now_ms: int
) -> dict:
    return {
        "e": "TRADE_LITE",
        "E": now_ms,
        "T": now_ms,
        "s": o.symbol,
        "q": fixed(o.quantity, spec.quantity_precision),
        "p": fixed(o.price, spec.price_precision),
        "m": maker,
        "c": o.client_id,
        "S": o.side,
        "L": at_least(price, spec.price_precision),
        "l": fixed(qty, spec.quantity_precision),
        "t": trade_id,
        "i": o.order_id,
    }


def break_even(pos: Position, taker_fee: Decimal) -> Decimal:
    if pos.amount == 0:
        return ZERO
    return pos.entry * (1 + taker_fee) if pos.amount > 0 else pos.entry * (1 - taker_fee)


def account_update(
    acct: Account,
    positions: list[Position],
    quotes: dict[str, Quote],
    reason: str,
    now_ms: int,
    taker_fee: Decimal,
    balance_change: Decimal = ZERO,
) -> dict:
    ps_out = []
    for pos in positions:
        mark = quotes[pos.symbol].mark if pos.symbol in quotes else pos.entry
        iso = acct.isolated.get(pos.symbol, False)
        lev = acct.leverage.get(pos.symbol, 20)
        ps_out.append(
            {
                "s": pos.symbol,
                "pa": plain(pos.amount),
                "ep": plain(pos.entry),
                "cr": plain(pos.realized),
                "up": stripped(pos.amount * (mark - pos.entry), 8),
                "mt": "isolated" if iso else "cross",
                "iw": fixed(abs(pos.amount) * pos.entry / lev, 8) if iso else "0",
                "ps": pos.position_side,
                "ma": "USDT",
                "bep": plain(break_even(pos, taker_fee)),
            }
        )
    wb = stripped(acct.wallet, 8)
    return {
        "e": "ACCOUNT_UPDATE",
        "T": now_ms,
        "E": now_ms,
        "a": {
            "B": [{"a": "USDT", "wb": wb, "cw": wb, "bc": plain(balance_change)}],
            "P": ps_out,
            "m": reason,
        },
    }


def algo_result(a: AlgoOrder, spec: SymbolSpec) -> dict:
    """``algoOrder.place`` result / ``GET /fapi/v1/algoOrder`` (docs example field order)."""
    pp, qp = spec.price_precision, spec.quantity_precision
    return {
        "algoId": a.algo_id,
        "clientAlgoId": a.client_id,
        "algoType": "CONDITIONAL",
        "orderType": a.type,
        "symbol": a.symbol,
        "side": a.side,
        "positionSide": a.position_side,
        "timeInForce": a.tif,
        "quantity": fixed(a.quantity, qp) if a.quantity is not None else fixed(ZERO, qp),
        "algoStatus": a.status,
        "triggerPrice": at_least(a.trigger_price, pp),
        "price": at_least(a.price, pp),
        "icebergQuantity": None,
        "selfTradePreventionMode": a.stp,
        "workingType": a.working_type,
        "priceMatch": a.price_match,
        "closePosition": a.close_position,
        "priceProtect": a.price_protect,
        "reduceOnly": a.reduce_only,
        "activatePrice": at_least(a.activate_price, pp) if a.activate_price is not None else "",
        "callbackRate": plain(a.callback_rate) if a.callback_rate is not None else "",
        "createTime": a.create_ms,
        "updateTime": a.update_ms,
        "triggerTime": a.trigger_ms,
        "goodTillDate": a.good_till,
    }


def algo_query(a: AlgoOrder, spec: SymbolSpec, actual: Order | None) -> dict:
    r = algo_result(a, spec)
    r.update(
        {
            "actualOrderId": str(a.actual_order_id) if a.actual_order_id else "",
            "actualPrice": plain(actual.avg_price) if actual else "0",
            "actualType": (
                "MARKET"
                if a.type in ("STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
                else "LIMIT"
            )
            if a.actual_order_id
            else "",
            "actualQty": plain(actual.executed) if actual else "0",
            "tpOrderType": "",
            "tpTriggerPrice": "",
            "tpPrice": "",
            "slTriggerPrice": "",
            "slPrice": "",
        }
    )
    return r


def algo_update(a: AlgoOrder, now_ms: int, actual: Order | None = None) -> dict:
    o: dict = {
        "caid": a.client_id,
        "aid": a.algo_id,
        "at": "CONDITIONAL",
        "o": a.type,
        "s": a.symbol,
        "S": a.side,
        "ps": a.position_side,
        "f": a.tif,
        "q": plain(a.quantity) if a.quantity is not None else "0",
        "X": a.status,
        "ai": str(a.actual_order_id) if a.actual_order_id else "",
    }
    if a.status in ("TRIGGERED", "FINISHED"):
        o["ap"] = plain(actual.avg_price) if actual else "0"
        o["aq"] = plain(actual.executed) if actual else "0"
        o["act"] = "MARKET" if a.price == 0 else "LIMIT"
    o.update({"tp": plain(a.trigger_price), "p": plain(a.price)})
    if a.status != "CANCELED":  # a CANCELED update lacks V/wt/pm/cp/pP (live capture, 2026-09-19)
        o.update(
            {
                "V": a.stp,
                "wt": a.working_type,
                "pm": a.price_match,
                "cp": a.close_position,
                "pP": a.price_protect,
            }
        )
    o.update({"R": a.reduce_only, "tt": a.trigger_ms, "gtd": a.good_till, "ia": a.activated})
    if a.reject_reason:
        o["rm"] = a.reject_reason
    return {"e": "ALGO_UPDATE", "T": now_ms, "E": now_ms, "o": o}
