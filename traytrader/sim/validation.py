"""Parameter and filter checks for new orders and algo orders, with Binance's codes and texts.

The simulator's own straightforward reading of the rules in docs/binance-usdm-protocol.md
(sections 3.1, 5, 7, 9); it shares no code with the client's ``core.filters``. Checks run in a fixed
order and the first failure wins. Decisions where Binance is UNCONFIRMED are marked here and in
docs/sim.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from traytrader.sim.errors import SimError, err, missing
from traytrader.sim.market import SymbolSpec

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
#: As of 2025-12-09 these types go through the Algo Service only (change-log 2025-11-06).
CONDITIONAL_TYPES = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)
MARKET_LIKE_ALGO = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"})
TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK", "GTX", "GTD"})
#: callbackRate range for TRAILING_STOP_MARKET: max 20 since 2026-10-23 (change-log); any precision.
CALLBACK_MIN, CALLBACK_MAX = Decimal("0.1"), Decimal("20")
GTD_MAX_MS = 253402300799000


@dataclass
class NewOrder:
    symbol: str
    side: str
    position_side: str
    type: str
    tif: str
    quantity: Decimal
    price: Decimal
    reduce_only: bool
    client_id: str | None
    resp_type: str
    stp: str
    good_till: int
    price_match: str


@dataclass
class NewAlgo:
    symbol: str
    side: str
    position_side: str
    type: str
    tif: str
    quantity: Decimal | None
    price: Decimal
    trigger_price: Decimal
    working_type: str
    close_position: bool
    reduce_only: bool
    price_protect: bool
    activate_price: Decimal | None
    callback_rate: Decimal | None
    client_id: str | None
    stp: str
    good_till: int
    price_match: str


def present(p: dict, name: str) -> bool:
    return p.get(name) not in (None, "")


def text(p: dict, name: str) -> str | None:
    v = p.get(name)
    if v in (None, ""):
        return None
    return v if isinstance(v, str) else str(v)


def decimal(p: dict, name: str) -> Decimal | None:
    v = p.get(name)
    if v in (None, ""):
        return None
    if isinstance(v, bool):
        raise missing(name)
    try:
        d = Decimal(v) if isinstance(v, (str, int, Decimal)) else Decimal(str(v))
    except (InvalidOperation, ValueError):
        raise missing(name) from None
    if not d.is_finite():
        raise missing(name)
    return d


def boolean(p: dict, name: str) -> bool | None:
    v = p.get(name)
    if v in (None, ""):
        return None
    if isinstance(v, bool):
        return v
    s = str(v).lower()
    if s in ("true", "false"):
        return s == "true"
    raise err(-1130, name)


def decimals_of(d: Decimal) -> int:
    exp = d.normalize().as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def on_step(value: Decimal, base: Decimal, step: Decimal) -> bool:
    return step == 0 or (value - base) % step == 0


def known_symbol(p: dict, specs: dict[str, SymbolSpec]) -> str:
    """``symbol`` exactly as listed (account settings and order look-ups do not fold case)."""
    sym = text(p, "symbol")
    if sym is None:
        raise missing("symbol")
    if sym not in specs:
        raise err(-1121)
    return sym


def symbol_of(p: dict, specs: dict[str, SymbolSpec]) -> SymbolSpec:
    sym = text(p, "symbol")
    if sym is None:
        raise missing("symbol")
    spec = specs.get(sym.upper() if sym.upper() in specs else sym)
    if spec is None:
        raise err(-1121)
    return spec


def side_of(p: dict) -> str:
    side = text(p, "side")
    if side is None:
        raise missing("side")
    if side not in ("BUY", "SELL"):
        raise err(-1117)
    return side


def position_side_of(p: dict, hedge: bool) -> str:
    ps = text(p, "positionSide")
    if ps is None:
        ps = "BOTH"
    if ps not in ("BOTH", "LONG", "SHORT"):
        raise err(-4060)
    if hedge != (ps != "BOTH"):
        raise err(-4061)
    return ps


def reduce_only_of(p: dict, hedge: bool) -> bool:
    ro = boolean(p, "reduceOnly")
    # "Cannot be sent in Hedge Mode" -> -1106 with Binance's lower-case name (nautilus_trader#4231).
    # A literal "false" is tolerated (UNCONFIRMED whether Binance also refuses it).
    if hedge and ro:
        raise SimError(-1106, "Parameter 'reduceonly' sent when not required.")
    return bool(ro)


def client_id_of(p: dict, name: str) -> str | None:
    cid = text(p, name)
    if cid is None:
        return None
    if len(cid) > 36:
        raise err(-4015)
    if not CLIENT_ID_RE.match(cid):
        raise SimError(-4015, "Client order id is not valid.")
    return cid


def check_quantity(q: Decimal | None, spec: SymbolSpec, market: bool) -> Decimal:
    if q is None:
        raise missing("quantity")
    if q <= 0:
        raise err(-4003)
    if decimals_of(q) > spec.quantity_precision:
        raise err(-1111)
    lo, hi, step = (
        (spec.market_min_qty, spec.market_max_qty, spec.market_step_size)
        if market
        else (spec.min_qty, spec.max_qty, spec.step_size)
    )
    if q < lo:
        raise err(-4004)
    if q > hi:
        raise err(-4005)
    if not on_step(q, lo, step):
        raise err(-4023)
    return q


def check_price(price: Decimal, spec: SymbolSpec, code_tick: int = -4014) -> Decimal:
    if price <= 0:
        raise err(-4001)
    if decimals_of(price) > spec.price_precision:
        raise err(-1111)
    if price < spec.min_price:
        raise err(-4013)
    if spec.max_price and price > spec.max_price:
        raise err(-4002)
    if not on_step(price, spec.min_price, spec.tick_size):
        raise err(code_tick)
    return price


def check_percent_price(side: str, price: Decimal, mark: Decimal, spec: SymbolSpec) -> None:
    if side == "BUY" and price > mark * spec.multiplier_up:
        raise err(-4016)
    if side == "SELL" and price < mark * spec.multiplier_down:
        raise err(-4024)


def notional_text(n: Decimal) -> str:
    s = f"{n.normalize():f}"
    return s if "." in s else s + ".0"


def check_min_notional(qty: Decimal, price: Decimal, spec: SymbolSpec) -> None:
    if qty * price < spec.min_notional:
        raise err(-4164, notional_text(spec.min_notional))


def good_till_of(p: dict, tif: str, now_ms: int) -> int:
    if tif != "GTD":
        return 0
    v = p.get("goodTillDate")
    if v in (None, ""):
        raise missing("goodTillDate")
    try:
        gtd = int(v)
    except (TypeError, ValueError):
        raise missing("goodTillDate") from None
    if gtd <= now_ms + 600_000 or gtd >= GTD_MAX_MS:
        raise err(-5040)
    return gtd


def enum_of(p: dict, name: str, allowed: frozenset[str] | tuple[str, ...], default: str) -> str:
    v = text(p, name)
    if v is None:
        return default
    if v not in allowed:
        raise err(-1130, name)
    return v


STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
PRICE_MATCH = (
    "NONE",
    "OPPONENT",
    "OPPONENT_5",
    "OPPONENT_10",
    "OPPONENT_20",
    "QUEUE",
    "QUEUE_5",
    "QUEUE_10",
    "QUEUE_20",
)


def validate_order(
    p: dict, specs: dict[str, SymbolSpec], hedge: bool, mark: Decimal | None, now_ms: int
) -> NewOrder:
    """Check ``order.place`` / ``POST /fapi/v1/order`` params; raise the first SimError."""
    spec = symbol_of(p, specs)
    side = side_of(p)
    typ = text(p, "type")
    if typ is None:
        raise missing("type")
    if typ in CONDITIONAL_TYPES:
        raise err(-4120)
    if typ not in ("LIMIT", "MARKET"):
        raise err(-1116)
    ps = position_side_of(p, hedge)
    ro = reduce_only_of(p, hedge)
    tif = "GTC"
    if typ == "LIMIT":
        t = text(p, "timeInForce")
        if t is None:
            raise missing("timeInForce")
        if t not in TIME_IN_FORCE:
            raise err(-1115)
        tif = t
    qty = check_quantity(decimal(p, "quantity"), spec, typ == "MARKET")
    price = Decimal(0)
    price_match = enum_of(p, "priceMatch", PRICE_MATCH, "NONE")
    if typ == "LIMIT":
        pr = decimal(p, "price")
        if pr is None:
            raise missing("price")
        price = check_price(pr, spec)
        if mark is not None:
            check_percent_price(side, price, mark, spec)
    elif present(p, "price"):
        raise err(-1106, "price")
    cid = client_id_of(p, "newClientOrderId")
    if not ro:
        ref = price if typ == "LIMIT" else (mark if mark is not None else price)
        check_min_notional(qty, ref, spec)
    gtd = good_till_of(p, tif, now_ms)
    resp = enum_of(p, "newOrderRespType", ("ACK", "RESULT"), "ACK")
    stp = enum_of(p, "selfTradePreventionMode", STP_MODES, "EXPIRE_MAKER")
    return NewOrder(spec.symbol, side, ps, typ, tif, qty, price, ro, cid, resp, stp, gtd, price_match)


def validate_algo(p: dict, specs: dict[str, SymbolSpec], hedge: bool, now_ms: int) -> NewAlgo:
    """Check ``algoOrder.place`` / ``POST /fapi/v1/algoOrder`` params; raise the first SimError."""
    at = text(p, "algoType")
    if at is None:
        raise missing("algoType")
    if at != "CONDITIONAL":
        raise err(-1130, "algoType")
    spec = symbol_of(p, specs)
    side = side_of(p)
    typ = text(p, "type")
    if typ is None:
        raise missing("type")
    if typ not in CONDITIONAL_TYPES:
        raise err(-1116)
    ps = position_side_of(p, hedge)
    ro = reduce_only_of(p, hedge)
    tif = enum_of(p, "timeInForce", TIME_IN_FORCE, "GTC")
    cp = bool(boolean(p, "closePosition"))
    if cp and typ not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
        raise err(-1106, "closePosition")
    if cp and ro:
        raise err(-1106, "reduceOnly")
    qty: Decimal | None = None
    if cp:
        if present(p, "quantity"):
            raise err(-4137)
    else:
        qty = check_quantity(decimal(p, "quantity"), spec, typ in MARKET_LIKE_ALGO)
    price = Decimal(0)
    if typ in ("STOP", "TAKE_PROFIT"):
        pr = decimal(p, "price")
        if pr is None:
            raise missing("price")
        price = check_price(pr, spec)
    elif present(p, "price"):
        raise err(-1106, "price")
    trigger = Decimal(0)
    activate: Decimal | None = None
    rate: Decimal | None = None
    if typ == "TRAILING_STOP_MARKET":
        if present(p, "triggerPrice"):
            raise err(-1106, "triggerPrice")
        activate = decimal(p, "activatePrice")
        if activate is not None:
            try:
                check_price(activate, spec)
            except SimError:
                raise err(-4135) from None
        rate = decimal(p, "callbackRate")
        if rate is None:
            raise missing("callbackRate")
        if not (CALLBACK_MIN <= rate <= CALLBACK_MAX):
            raise err(-4136)
    else:
        for name in ("activatePrice", "callbackRate"):
            if present(p, name):
                raise err(-1106, name)
        tp = decimal(p, "triggerPrice")
        if tp is None:
            raise missing("triggerPrice")
        trigger = check_price(tp, spec)
    wt = enum_of(p, "workingType", ("MARK_PRICE", "CONTRACT_PRICE"), "CONTRACT_PRICE")
    pp = bool(boolean(p, "priceProtect"))
    cid = client_id_of(p, "clientAlgoId")
    if qty is not None and not ro:
        ref = price or trigger or activate
        if ref:
            check_min_notional(qty, ref, spec)
    gtd = good_till_of(p, tif, now_ms)
    stp = enum_of(p, "selfTradePreventionMode", STP_MODES, "EXPIRE_MAKER")
    pm = enum_of(p, "priceMatch", PRICE_MATCH, "NONE")
    return NewAlgo(
        spec.symbol,
        side,
        ps,
        typ,
        tif,
        qty,
        price,
        trigger,
        wt,
        cp,
        ro,
        pp,
        activate,
        rate,
        cid,
        stp,
        gtd,
        pm,
    )
