"""The order builder: example tables and property tests against an independent reference.

The reference (``reference_entry`` / ``violations``) is written from Binance's filter rules with
``fractions.Fraction`` straight from the raw exchangeInfo JSON, sharing no code with
``core.filters``/``core.orders``/``core.decimals``: every order the builder returns must satisfy it,
and every refusal must name a filter the reference also finds violated.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal as D
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from traytrader.core.errors import InvalidOrder
from traytrader.core.filters import parse_symbol_filters
from traytrader.core.models import (
    OrderType,
    PositionMode,
    PositionSide,
    Profile,
    Side,
    TimeInForce,
    WorkingType,
)
from traytrader.core.orders import (
    CLIENT_ID_PATTERN,
    AlgoOrderRequest,
    OrderRequest,
    base36,
    build_close_order,
    build_entry_order,
    build_stop_order,
    limit_price,
    minimum_notional_for,
    new_client_id,
    session_tag,
)

DATA = Path(__file__).resolve().parents[1].joinpath("data")
RAW: dict[str, dict[str, Any]] = {}
for _symbol in json.loads((DATA / "binance_usdm_exchange_info_sample.json").read_text())["symbols"]:
    RAW[f"2021:{_symbol['symbol']}"] = _symbol
for _path in sorted((DATA / "real" / "exchange_info").glob("*.json")):
    _doc = json.loads(_path.read_text())
    if "symbols" in _doc:
        for _symbol in _doc["symbols"]:
            RAW[f"testnet:{_symbol['symbol']}"] = _symbol
    elif "filters" in _doc:
        RAW[f"prod:{_doc['symbol']}"] = _doc
FILTERS = {key: parse_symbol_filters(raw) for key, raw in RAW.items()}

ONE_WAY, HEDGE = PositionMode.ONE_WAY, PositionMode.HEDGE
BUY, SELL = Side.BUY, Side.SELL


# --- the independent reference --------------------------------------------------------------------------


def raw_filters(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["filterType"]: f for f in raw["filters"]}


def fr(value: Any) -> Fraction:
    return Fraction(str(value))


def grid_floor(value: Fraction, step: Fraction, base: Fraction) -> Fraction:
    return base + math.floor((value - base) / step) * step


def grid_ceil(value: Fraction, step: Fraction, base: Fraction) -> Fraction:
    return base + math.ceil((value - base) / step) * step


def violations(
    raw: dict[str, Any],
    side: Side,
    order_type: OrderType,
    quantity: Fraction,
    price: Fraction | None,
    mark: Fraction,
    reduce_only: bool = False,
    taker_price: Fraction | None = None,
) -> set[str]:
    """Every Binance filter the order breaks, straight from common-definition.md."""
    filters = raw_filters(raw)
    broken: set[str] = set()
    lot_name = "MARKET_LOT_SIZE" if order_type is OrderType.MARKET else "LOT_SIZE"
    lot = filters[lot_name]
    min_qty, max_qty, step = fr(lot["minQty"]), fr(lot["maxQty"]), fr(lot["stepSize"])
    if quantity <= 0 or quantity < min_qty or (max_qty and quantity > max_qty) or (quantity - min_qty) % step:
        broken.add(lot_name)
    pf = filters["PRICE_FILTER"]
    min_price, max_price, tick = fr(pf["minPrice"]), fr(pf["maxPrice"]), fr(pf["tickSize"])
    pp = filters.get("PERCENT_PRICE")
    if price is not None and (
        price <= 0 or price < min_price or (max_price and price > max_price) or (price - min_price) % tick
    ):
        broken.add("PRICE_FILTER")
    checked = price if price is not None else taker_price
    if pp and checked is not None:
        if side is Side.BUY and checked > mark * fr(pp["multiplierUp"]):
            broken.add("PERCENT_PRICE")
        if side is Side.SELL and checked < mark * fr(pp["multiplierDown"]):
            broken.add("PERCENT_PRICE")
    mn = filters.get("MIN_NOTIONAL")
    notional_price = price if price is not None else mark
    if mn and not reduce_only and quantity * notional_price < fr(mn["notional"]):
        broken.add("MIN_NOTIONAL")
    return broken


def reference_entry(
    raw: dict[str, Any], profile: Profile, side: Side, bid: Fraction, ask: Fraction, mark: Fraction
) -> tuple[Fraction, Fraction | None, set[str]]:
    """(quantity, price, violated filters) the builder should produce."""
    filters = raw_filters(raw)
    pf = filters["PRICE_FILTER"]
    tick, min_price = fr(pf["tickSize"]), fr(pf["minPrice"])
    price: Fraction | None = None
    if profile.order_type is OrderType.LIMIT:
        offset = profile.limit_offset_ticks * tick
        price = (
            grid_floor(bid - offset, tick, min_price)
            if side is BUY
            else grid_ceil(ask + offset, tick, min_price)
        )
        if price <= 0:
            return Fraction(0), price, {"PRICE_FILTER"}
        size_price = price
        lot = filters["LOT_SIZE"]
    else:
        size_price = ask if side is BUY else bid
        lot = filters["MARKET_LOT_SIZE"]
    min_qty, step = fr(lot["minQty"]), fr(lot["stepSize"])
    wanted = (
        fr(profile.notional_usdt) / size_price if profile.notional_usdt is not None else fr(profile.quantity)
    )
    quantity = grid_floor(wanted, step, min_qty) if wanted >= min_qty else wanted
    return (
        quantity,
        price,
        violations(
            raw,
            side,
            profile.order_type,
            quantity,
            price,
            mark,
            taker_price=None if price is not None else size_price,
        ),
    )


def check_wire(params: dict[str, str]) -> None:
    """DECIMAL strings are canonical: plain digits, no exponent, no trailing zeros."""
    for key in ("quantity", "price", "triggerPrice", "activatePrice", "callbackRate"):
        if key in params:
            assert re.fullmatch(r"\d+(\.\d*[1-9])?", params[key]), (key, params[key])


# --- property tests ---------------------------------------------------------------------------------------


@st.composite
def market_case(draw: st.DrawFn) -> dict[str, Any]:
    key = draw(st.sampled_from(sorted(RAW)))
    raw = RAW[key]
    pf = raw_filters(raw)["PRICE_FILTER"]
    tick, min_price, max_price = fr(pf["tickSize"]), fr(pf["minPrice"]), fr(pf["maxPrice"])
    low = math.ceil(min_price / tick)
    high = math.floor(max_price / tick) if max_price else low * 10_000
    mark_ticks = draw(st.integers(low, high) | st.integers(low, min(high, low * 200)))
    mark = mark_ticks * tick + Fraction(draw(st.integers(0, 999)), 1000) * tick
    drift = Fraction(draw(st.integers(-800, 800)), 10_000)
    bid = max(tick, grid_floor(mark * (1 + drift), tick, Fraction(0)))
    ask = bid + draw(st.integers(1, 20)) * tick
    return {"key": key, "raw": raw, "mark": mark, "bid": bid, "ask": ask}


def to_decimal(value: Fraction) -> D:
    """Exact for the finite decimals generated here."""
    return D(value.numerator) / D(value.denominator)


sizes = st.one_of(
    st.builds(lambda n: ("notional", n), st.decimals(min_value=D("0.01"), max_value=D("2000000"), places=2)),
    st.builds(lambda q: ("quantity", q), st.decimals(min_value=D("0.0001"), max_value=D("50000"), places=4)),
)


# Everything an entry order depends on (also drawn by test_entry_plan.py).
ENTRY_INPUTS: dict[str, Any] = {
    "case": market_case(),
    "size": sizes,
    "side": st.sampled_from(list(Side)),
    "order_type": st.sampled_from(list(OrderType)),
    "offset": st.integers(-30, 30),
    "mode": st.sampled_from(list(PositionMode)),
    "tif": st.sampled_from(list(TimeInForce)),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**ENTRY_INPUTS)
def test_entry_orders_satisfy_every_filter_or_name_the_broken_one(
    case: dict[str, Any],
    size: tuple[str, D],
    side: Side,
    order_type: OrderType,
    offset: int,
    mode: PositionMode,
    tif: TimeInForce,
) -> None:
    raw = case["raw"]
    filters = FILTERS[case["key"]]
    profile = Profile(
        "p",
        raw["symbol"],
        10,
        order_type=order_type,
        limit_offset_ticks=offset,
        time_in_force=tif,
        **{("notional_usdt" if size[0] == "notional" else "quantity"): size[1]},
    )
    bid, ask, mark = case["bid"], case["ask"], case["mark"]
    want_qty, want_price, broken = reference_entry(raw, profile, side, bid, ask, mark)
    try:
        order = build_entry_order(
            profile, side, filters, to_decimal(bid), to_decimal(ask), to_decimal(mark), mode, "cid-1"
        )
    except InvalidOrder as exc:
        assert broken, f"refused a valid order: {exc}"
        assert exc.filter_name in broken, (exc.filter_name, broken, str(exc))
        assert exc.filter_name in str(exc)
        event(f"refused: {exc.filter_name}")
        return
    event(f"accepted {order_type.value}")
    assert not broken, f"accepted an order breaking {broken}: {order}"
    params = order.params()
    check_wire(params)
    quantity = fr(params["quantity"])
    price = fr(params["price"]) if "price" in params else None
    assert quantity == want_qty and price == want_price
    assert (
        violations(
            raw,
            side,
            order_type,
            quantity,
            price,
            mark,
            taker_price=None if price is not None else (ask if side is BUY else bid),
        )
        == set()
    )
    # sizes never exceed what the user asked for
    if size[0] == "notional":
        assert quantity * (price if price is not None else (ask if side is BUY else bid)) <= fr(size[1])
    else:
        assert quantity <= fr(size[1])
    # prices sit on the tick in the safe direction, within one tick of the target
    if price is not None:
        tick = fr(raw_filters(raw)["PRICE_FILTER"]["tickSize"])
        target = bid - offset * tick if side is BUY else ask + offset * tick
        assert (0 <= target - price < tick) if side is BUY else (0 <= price - target < tick)
        assert params["timeInForce"] == tif.value
    assert ("positionSide" in params) == (mode is HEDGE)
    assert "reduceOnly" not in params
    assert (params.get("newOrderRespType") == "RESULT") == (order_type is OrderType.MARKET)


positions = st.decimals(min_value=D("-5000"), max_value=D("5000"), places=4).filter(lambda q: q != 0)


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(sorted(RAW)), position=positions, mode=st.sampled_from(list(PositionMode)))
def test_close_orders_reduce_and_never_exceed_the_position(key: str, position: D, mode: PositionMode) -> None:
    raw, filters = RAW[key], FILTERS[key]
    side_of_position = (
        PositionSide.BOTH if mode is ONE_WAY else (PositionSide.LONG if position > 0 else PositionSide.SHORT)
    )
    lot = raw_filters(raw)["MARKET_LOT_SIZE"]
    try:
        order = build_close_order(raw["symbol"], position, side_of_position, filters, mode, "close-1")
    except InvalidOrder as exc:
        assert exc.filter_name == "MARKET_LOT_SIZE"
        assert abs(fr(position)) < fr(lot["minQty"])
        return
    params = order.params()
    check_wire(params)
    quantity = fr(params["quantity"])
    assert quantity <= abs(fr(position))
    assert (
        violations(raw, order.side, OrderType.MARKET, quantity, None, Fraction(1), reduce_only=True) == set()
    )
    assert order.side is (SELL if position > 0 else BUY)
    if mode is ONE_WAY:
        assert params["reduceOnly"] == "true" and "positionSide" not in params
    else:
        assert "reduceOnly" not in params and params["positionSide"] == side_of_position.value
    max_qty = fr(lot["maxQty"])
    if not max_qty or abs(fr(position)) <= max_qty:
        assert abs(fr(position)) - quantity < fr(lot["stepSize"])  # the whole position, floored to the step


@settings(max_examples=300, deadline=None)
@given(
    case=market_case(),
    position=st.decimals(min_value=D("0.001"), max_value=D("100"), places=3),
    long=st.booleans(),
    pct=st.integers(1, 3000),
    mode=st.sampled_from(list(PositionMode)),
)
def test_stop_trigger_is_on_tick_and_never_looser(
    case: dict[str, Any], position: D, long: bool, pct: int, mode: PositionMode
) -> None:
    raw, filters = case["raw"], FILTERS[case["key"]]
    mark = case["mark"]
    distance = Fraction(pct, 10_000)
    asked = mark * (1 - distance) if long else mark * (1 + distance)
    qty = position if long else -position
    pos_side = PositionSide.BOTH if mode is ONE_WAY else (PositionSide.LONG if long else PositionSide.SHORT)
    try:
        stop = build_stop_order(
            raw["symbol"],
            qty,
            pos_side,
            filters,
            mode,
            "stop-1",
            trigger_price=to_decimal(asked),
            mark_price=to_decimal(mark),
        )
    except InvalidOrder as exc:
        assert exc.filter_name in {"MARKET_LOT_SIZE", "PRICE_FILTER", "triggerPrice"}
        return
    params = stop.params()
    check_wire(params)
    trigger = fr(params["triggerPrice"])
    pf = raw_filters(raw)["PRICE_FILTER"]
    tick, min_price = fr(pf["tickSize"]), fr(pf["minPrice"])
    assert (trigger - min_price) % tick == 0
    if long:
        assert 0 <= trigger - asked < tick and trigger < mark  # rounded up: tighter for a long
    else:
        assert 0 <= asked - trigger < tick and trigger > mark  # rounded down: tighter for a short
    assert params["side"] == ("SELL" if long else "BUY")
    assert params["algoType"] == "CONDITIONAL" and params["type"] == "STOP_MARKET"
    assert "closePosition" not in params
    assert ("reduceOnly" in params) == (mode is ONE_WAY) and ("positionSide" in params) == (mode is HEDGE)
    assert fr(params["quantity"]) <= position


# --- example tables ---------------------------------------------------------------------------------------

PROD = FILTERS["prod:BTCUSDT"]  # tick 0.10, MARKET max 120, MIN_NOTIONAL 50
TESTNET = FILTERS["testnet:BTCUSDT"]  # MIN_NOTIONAL 100
OLD = FILTERS["2021:BTCUSDT"]  # tick 0.01, MARKET max 200, LOT max 1000, MIN_NOTIONAL 5


def profile(symbol: str = "BTCUSDT", **kwargs: Any) -> Profile:
    return Profile("p", symbol, 10, **kwargs)


ENTRY_TABLE = [
    # (filters, profile kwargs, side, bid, ask, mark, mode, expected params subset)
    (
        PROD,
        {"notional_usdt": D("100")},
        BUY,
        "60000.0",
        "60000.1",
        "60000",
        ONE_WAY,
        {"type": "MARKET", "quantity": "0.001", "newOrderRespType": "RESULT"},
    ),
    (
        PROD,
        {"notional_usdt": D("1000")},
        SELL,
        "60000.0",
        "60000.1",
        "60010",
        ONE_WAY,
        {"side": "SELL", "quantity": "0.016"},
    ),
    (
        PROD,
        {"notional_usdt": D("1000")},
        SELL,
        "60000.0",
        "60000.1",
        "60010",
        HEDGE,
        {"side": "SELL", "positionSide": "SHORT"},
    ),
    (PROD, {"notional_usdt": D("1000")}, BUY, "60000.0", "60000.1", "60010", HEDGE, {"positionSide": "LONG"}),
    (PROD, {"quantity": D("0.0129")}, BUY, "60000.0", "60000.1", "60000", ONE_WAY, {"quantity": "0.012"}),
    (
        PROD,
        {"notional_usdt": D("1000"), "order_type": OrderType.LIMIT, "limit_offset_ticks": 2},
        BUY,
        "60000.0",
        "60000.1",
        "60000",
        ONE_WAY,
        {"type": "LIMIT", "price": "59999.8", "timeInForce": "GTC", "quantity": "0.016"},
    ),
    (
        PROD,
        {"notional_usdt": D("1000"), "order_type": OrderType.LIMIT, "limit_offset_ticks": 0},
        SELL,
        "60000.0",
        "60000.3",
        "60000",
        ONE_WAY,
        {"price": "60000.3"},
    ),
    (
        PROD,
        {
            "notional_usdt": D("1000"),
            "order_type": OrderType.LIMIT,
            "limit_offset_ticks": -1,
            "time_in_force": TimeInForce.GTX,
        },
        SELL,
        "60000.0",
        "60000.3",
        "60000",
        ONE_WAY,
        {"price": "60000.2", "timeInForce": "GTX"},
    ),
    # off-tick best prices (e.g. a stale or synthetic quote) round in the safe direction
    (
        PROD,
        {"notional_usdt": D("1000"), "order_type": OrderType.LIMIT},
        BUY,
        "60000.07",
        "60000.12",
        "60000",
        ONE_WAY,
        {"price": "60000"},
    ),
    (
        PROD,
        {"notional_usdt": D("1000"), "order_type": OrderType.LIMIT},
        SELL,
        "60000.07",
        "60000.12",
        "60000",
        ONE_WAY,
        {"price": "60000.2"},
    ),
    (
        FILTERS["2021:SOLUSDT"],
        {"symbol": "SOLUSDT", "notional_usdt": D("100")},
        BUY,
        "34.560",
        "34.567",
        "34.56",
        ONE_WAY,
        {"quantity": "2"},
    ),
    (
        FILTERS["2021:DOGEUSDT"],
        {
            "symbol": "DOGEUSDT",
            "notional_usdt": D("25"),
            "order_type": OrderType.LIMIT,
            "limit_offset_ticks": 5,
        },
        BUY,
        "0.241230",
        "0.241240",
        "0.24124",
        ONE_WAY,
        {"price": "0.24118", "quantity": "103"},
    ),
    (
        FILTERS["2021:1000SHIBUSDT"],
        {"symbol": "1000SHIBUSDT", "notional_usdt": D("50")},
        SELL,
        "0.007123",
        "0.007124",
        "0.0071235",
        ONE_WAY,
        {"quantity": "7019"},
    ),
    (
        OLD,
        {"quantity": D("1000"), "order_type": OrderType.LIMIT},
        BUY,
        "50000.00",
        "50000.01",
        "50000",
        ONE_WAY,
        {"quantity": "1000"},
    ),
]


@pytest.mark.parametrize(("filters", "kwargs", "side", "bid", "ask", "mark", "mode", "expected"), ENTRY_TABLE)
def test_entry_table(
    filters: Any,
    kwargs: dict[str, Any],
    side: Side,
    bid: str,
    ask: str,
    mark: str,
    mode: PositionMode,
    expected: dict[str, str],
) -> None:
    order = build_entry_order(profile(**kwargs), side, filters, D(bid), D(ask), D(mark), mode, "cid")
    params = order.params()
    assert {k: params[k] for k in expected} == expected
    assert params["newClientOrderId"] == "cid"


REFUSAL_TABLE = [
    # (filters, profile kwargs, side, bid, ask, mark, filter name, exact sentence)
    (
        TESTNET,
        {"quantity": D("0.001")},
        BUY,
        "50000",
        "50000.1",
        "50000",
        "MIN_NOTIONAL",
        "50 USDT is below BTCUSDT's minimum notional of 100 USDT (MIN_NOTIONAL).",
    ),
    (
        PROD,
        {"notional_usdt": D("49")},
        BUY,
        "60000.0",
        "60000.1",
        "60000",
        "MARKET_LOT_SIZE",
        "49 USDT at 60000.1 buys only 0.0008166 BTC, which is below BTCUSDT's minimum quantity of 0.001 BTC "
        "(MARKET_LOT_SIZE).",
    ),
    (
        PROD,
        {"quantity": D("0.0004"), "order_type": OrderType.LIMIT},
        BUY,
        "60000.0",
        "60000.1",
        "60000",
        "LOT_SIZE",
        "0.0004 BTC is below BTCUSDT's minimum quantity of 0.001 BTC (LOT_SIZE).",
    ),
    (
        PROD,
        {"quantity": D("121")},
        SELL,
        "60000.0",
        "60000.1",
        "60000",
        "MARKET_LOT_SIZE",
        "121 BTC is above BTCUSDT's maximum quantity of 120 BTC (MARKET_LOT_SIZE).",
    ),
    (
        OLD,
        {"quantity": D("1000.5"), "order_type": OrderType.LIMIT},
        SELL,
        "50000.00",
        "50000.01",
        "50000",
        "LOT_SIZE",
        "1000.5 BTC is above BTCUSDT's maximum quantity of 1000 BTC (LOT_SIZE).",
    ),
    (
        PROD,
        {"notional_usdt": D("1000"), "order_type": OrderType.LIMIT, "limit_offset_ticks": -40000},
        BUY,
        "60000.0",
        "60000.1",
        "60000",
        "PERCENT_PRICE",
        "The price 64000 is 1000 above BTCUSDT's cap of 63000 (mark price × 1.05, PERCENT_PRICE).",
    ),
    (
        PROD,
        {"notional_usdt": D("1000"), "order_type": OrderType.LIMIT, "limit_offset_ticks": -40000},
        SELL,
        "60000.0",
        "60000.1",
        "60000",
        "PERCENT_PRICE",
        "The price 56000.1 is 999.9 below BTCUSDT's floor of 57000 (mark price × 0.95, PERCENT_PRICE).",
    ),
    (
        PROD,
        {"notional_usdt": D("1000")},
        BUY,
        "60000.0",
        "63000.1",
        "60000",
        "PERCENT_PRICE",
        "The best opposite price 63000.1 is 0.1 above BTCUSDT's cap of 63000 "
        "(mark price × 1.05, PERCENT_PRICE).",
    ),
    (
        PROD,
        {"notional_usdt": D("1000"), "order_type": OrderType.LIMIT, "limit_offset_ticks": 600000},
        BUY,
        "60000.0",
        "60000.1",
        "60000",
        "PRICE_FILTER",
        "The price 0 is below BTCUSDT's minimum price of 556.8 (PRICE_FILTER).",
    ),
    (
        OLD,
        {"notional_usdt": D("1000"), "order_type": OrderType.LIMIT, "limit_offset_ticks": 100},
        SELL,
        "4529763.00",
        "4529763.50",
        "4529763",
        "PRICE_FILTER",
        "The price 4529764.5 is above BTCUSDT's maximum price of 4529764 (PRICE_FILTER).",
    ),
    (
        PROD,
        {"notional_usdt": D("100")},
        BUY,
        "0",
        "60000.1",
        "60000",
        "market",
        "There is no valid best bid for BTCUSDT yet (got 0).",
    ),
    (
        PROD,
        {"notional_usdt": D("100")},
        BUY,
        "60000",
        "60000.1",
        "NaN",
        "market",
        "There is no valid mark price for BTCUSDT yet (got NaN).",
    ),
    (
        PROD,
        {"symbol": "ETHUSDT", "notional_usdt": D("100")},
        BUY,
        "60000",
        "60000.1",
        "60000",
        "symbol",
        "Profile 'p' trades ETHUSDT, not BTCUSDT.",
    ),
    (
        PROD,
        {},
        BUY,
        "60000",
        "60000.1",
        "60000",
        "profile",
        "Profile 'p' has neither a notional size nor a quantity.",
    ),
]


@pytest.mark.parametrize(
    ("filters", "kwargs", "side", "bid", "ask", "mark", "name", "sentence"), REFUSAL_TABLE
)
def test_refusal_table(
    filters: Any, kwargs: dict[str, Any], side: Side, bid: str, ask: str, mark: str, name: str, sentence: str
) -> None:
    with pytest.raises(InvalidOrder) as caught:
        build_entry_order(profile(**kwargs), side, filters, D(bid), D(ask), D(mark), ONE_WAY, "cid")
    assert caught.value.filter_name == name
    assert str(caught.value) == sentence


def test_untradable_symbol_is_refused_before_pricing() -> None:
    broken = parse_symbol_filters({**RAW["prod:BTCUSDT"], "filters": []})
    with pytest.raises(InvalidOrder, match="no PRICE_FILTER filter"):
        build_entry_order(profile(notional_usdt=D("100")), BUY, broken, D(1), D(2), D(1), ONE_WAY, "c")


def test_limit_price_helper_direction() -> None:
    assert limit_price(BUY, D("100.05"), D("100.15"), 1, PROD) == D("99.9")
    assert limit_price(SELL, D("100.05"), D("100.15"), 1, PROD) == D("100.3")


def test_minimum_notional_for() -> None:
    assert minimum_notional_for(PROD, D("60000")) == D("60")  # 0.001 BTC beats 50 USDT
    assert minimum_notional_for(PROD, D("20000")) == D("60")  # 50/20000 = 0.0025 -> 0.003 BTC
    assert minimum_notional_for(TESTNET, D("60000"), OrderType.LIMIT) == D("120")


# --- close and stop tables ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qty", "pos_side", "mode", "expected"),
    [
        ("0.015", PositionSide.BOTH, ONE_WAY, {"side": "SELL", "quantity": "0.015", "reduceOnly": "true"}),
        ("-0.015", PositionSide.BOTH, ONE_WAY, {"side": "BUY", "quantity": "0.015", "reduceOnly": "true"}),
        ("0.015", PositionSide.LONG, HEDGE, {"side": "SELL", "positionSide": "LONG"}),
        ("-0.015", PositionSide.SHORT, HEDGE, {"side": "BUY", "positionSide": "SHORT"}),
        ("0.015", PositionSide.SHORT, HEDGE, {"side": "BUY", "positionSide": "SHORT"}),
        ("150", PositionSide.BOTH, ONE_WAY, {"quantity": "120"}),  # capped at MARKET_LOT_SIZE max
        ("0.0159", PositionSide.BOTH, ONE_WAY, {"quantity": "0.015"}),
    ],
)
def test_close_table(qty: str, pos_side: PositionSide, mode: PositionMode, expected: dict[str, str]) -> None:
    params = build_close_order("BTCUSDT", D(qty), pos_side, PROD, mode, "close").params()
    assert {k: params[k] for k in expected} == expected
    assert params["type"] == "MARKET" and params["newOrderRespType"] == "RESULT"
    assert ("reduceOnly" in params) != (mode is HEDGE)


@pytest.mark.parametrize(
    ("qty", "pos_side", "mode", "symbol", "name"),
    [
        ("0", PositionSide.BOTH, ONE_WAY, "BTCUSDT", "position"),
        ("1", PositionSide.BOTH, HEDGE, "BTCUSDT", "positionSide"),
        ("-1", PositionSide.LONG, HEDGE, "BTCUSDT", "positionSide"),
        ("1", PositionSide.LONG, ONE_WAY, "BTCUSDT", "positionSide"),
        ("0.0005", PositionSide.BOTH, ONE_WAY, "BTCUSDT", "MARKET_LOT_SIZE"),
        ("1", PositionSide.BOTH, ONE_WAY, "ETHUSDT", "symbol"),
    ],
)
def test_close_refusals(qty: str, pos_side: PositionSide, mode: PositionMode, symbol: str, name: str) -> None:
    with pytest.raises(InvalidOrder) as caught:
        build_close_order(symbol, D(qty), pos_side, PROD, mode, "close")
    assert caught.value.filter_name == name


@pytest.mark.parametrize(
    ("qty", "pos_side", "mode", "client_id", "kwargs", "expected"),
    [
        pytest.param(
            "0.01", PositionSide.BOTH, ONE_WAY, "stop-1",
            {"trigger_price": D("58000.03"), "mark_price": D("60000")},
            {"side": "SELL", "type": "STOP_MARKET", "quantity": "0.01", "workingType": "MARK_PRICE",
             "clientAlgoId": "stop-1", "triggerPrice": "58000.1", "reduceOnly": "true"},
            id="stop-market-long-one-way",
        ),
        pytest.param(
            "-0.02", PositionSide.SHORT, HEDGE, "stop-2",
            {"trigger_price": D("61000.09"), "working_type": WorkingType.CONTRACT_PRICE},
            {"side": "BUY", "type": "STOP_MARKET", "quantity": "0.02", "workingType": "CONTRACT_PRICE",
             "clientAlgoId": "stop-2", "triggerPrice": "61000", "positionSide": "SHORT"},
            id="stop-market-short-hedge-contract-price",
        ),
        pytest.param(
            "-0.01", PositionSide.SHORT, HEDGE, "trail-1",
            {"callback_rate": D("1.239"), "activate_price": D("59000.07"), "mark_price": D("60000")},
            {"side": "BUY", "type": "TRAILING_STOP_MARKET", "quantity": "0.01", "workingType": "MARK_PRICE",
             "clientAlgoId": "trail-1", "callbackRate": "1.23", "activatePrice": "59000.1",
             "positionSide": "SHORT"},
            id="trailing-stop-short-hedge",
        ),
    ],
)
def test_stop_order_params(qty: str, pos_side: PositionSide, mode: PositionMode, client_id: str,
                           kwargs: dict[str, Any], expected: dict[str, str]) -> None:
    """The whole wire payload: trigger prices on the tick (on the tighter side), the callback rate
    on its 0.01 step, ``reduceOnly`` in one-way mode and ``positionSide`` in hedge mode."""
    stop = build_stop_order("BTCUSDT", D(qty), pos_side, PROD, mode, client_id, **kwargs)
    assert stop.params() == {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", **expected}


def test_trailing_stop_long_without_activation() -> None:
    params = build_stop_order(
        "BTCUSDT", D("0.01"), PositionSide.BOTH, PROD, ONE_WAY, "trail-2", callback_rate=D("20")
    ).params()
    assert params["callbackRate"] == "20" and "activatePrice" not in params and params["side"] == "SELL"
    params = build_stop_order(
        "BTCUSDT",
        D("0.01"),
        PositionSide.BOTH,
        PROD,
        ONE_WAY,
        "trail-3",
        callback_rate=D("0.1"),
        activate_price=D("61000.05"),
        mark_price=D("60000"),
    ).params()
    assert params["callbackRate"] == "0.1" and params["activatePrice"] == "61000"


@pytest.mark.parametrize(
    ("kwargs", "qty", "name", "fragment"),
    [
        (
            {"trigger_price": D("60000"), "mark_price": D("60000")},
            "0.01",
            "triggerPrice",
            "would trigger at once",
        ),
        (
            {"trigger_price": D("59999.95"), "mark_price": D("60000")},
            "0.01",
            "triggerPrice",
            "would trigger at once",
        ),
        (
            {"trigger_price": D("60000.05"), "mark_price": D("60000")},
            "-0.01",
            "triggerPrice",
            "would trigger",
        ),
        (
            {"trigger_price": D("100"), "mark_price": D("60000")},
            "0.01",
            "PRICE_FILTER",
            "minimum price of 556.8",
        ),
        ({"trigger_price": D("0")}, "0.01", "market", "no valid trigger price"),
        ({}, "0.01", "stop", "exactly one"),
        ({"trigger_price": D("1"), "callback_rate": D("1")}, "0.01", "stop", "exactly one"),
        ({"callback_rate": D("0.09")}, "0.01", "callbackRate", "0.1% to 20%"),
        ({"callback_rate": D("20.01")}, "0.01", "callbackRate", "outside Binance's range"),
        ({"callback_rate": D("NaN")}, "0.01", "callbackRate", "outside"),
        (
            {"callback_rate": D("1"), "activate_price": D("59000"), "mark_price": D("60000")},
            "0.01",
            "activatePrice",
            "must be above the mark price",
        ),
        (
            {"callback_rate": D("1"), "activate_price": D("61000"), "mark_price": D("60000")},
            "-0.01",
            "activatePrice",
            "must be below the mark price",
        ),
        ({"callback_rate": D("1"), "activate_price": D("5000000")}, "0.01", "PRICE_FILTER", "maximum price"),
        ({"callback_rate": D("1"), "activate_price": D("-1")}, "0.01", "market", "activation price"),
        ({"trigger_price": D("50000")}, "121", "MARKET_LOT_SIZE", "maximum quantity of 120"),
        ({"trigger_price": D("50000")}, "0", "position", "no BTCUSDT position"),
    ],
)
def test_stop_refusals(kwargs: dict[str, Any], qty: str, name: str, fragment: str) -> None:
    with pytest.raises(InvalidOrder) as caught:
        build_stop_order("BTCUSDT", D(qty), PositionSide.BOTH, PROD, ONE_WAY, "stop", **kwargs)
    assert caught.value.filter_name == name
    assert fragment in str(caught.value)


def test_stop_for_other_symbol_is_refused() -> None:
    with pytest.raises(InvalidOrder, match="not ETHUSDT"):
        build_stop_order("ETHUSDT", D("1"), PositionSide.BOTH, PROD, ONE_WAY, "s", trigger_price=D("1000"))


# --- requests and client ids ------------------------------------------------------------------------


def test_order_request_refuses_contradictions() -> None:
    with pytest.raises(InvalidOrder, match="hedge mode"):
        OrderRequest(
            "BTCUSDT", BUY, OrderType.MARKET, D(1), position_side=PositionSide.LONG, reduce_only=True
        )
    with pytest.raises(InvalidOrder, match="LIMIT order needs"):
        OrderRequest("BTCUSDT", BUY, OrderType.LIMIT, D(1), price=D(1))
    with pytest.raises(InvalidOrder, match="client order id"):
        OrderRequest("BTCUSDT", BUY, OrderType.MARKET, D(1), client_order_id="has space")
    with pytest.raises(InvalidOrder, match="MARKET order takes neither"):
        OrderRequest("BTCUSDT", BUY, OrderType.MARKET, D(1), price=D(1))
    with pytest.raises(InvalidOrder, match="MARKET order takes neither"):
        OrderRequest("BTCUSDT", BUY, OrderType.MARKET, D(1), time_in_force=TimeInForce.GTC)
    for bad in ("0", "-1", "NaN"):
        with pytest.raises(InvalidOrder, match="must be positive"):
            OrderRequest("BTCUSDT", BUY, OrderType.MARKET, D(bad))
    with pytest.raises(InvalidOrder, match="hedge mode"):
        AlgoOrderRequest("BTCUSDT", SELL, "STOP_MARKET", D(1), "a", position_side=PositionSide.LONG)
    with pytest.raises(InvalidOrder, match="client order id"):
        AlgoOrderRequest("BTCUSDT", SELL, "STOP_MARKET", D(1), "x" * 37)


def test_order_request_params_minimal_and_explicit_resp_type() -> None:
    assert OrderRequest(
        "BTCUSDT",
        SELL,
        OrderType.LIMIT,
        D("1.50"),
        price=D("1E+4"),
        time_in_force=TimeInForce.IOC,
        resp_type="RESULT",
    ).params() == {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "quantity": "1.5",
        "price": "10000",
        "timeInForce": "IOC",
        "newOrderRespType": "RESULT",
    }
    assert (
        AlgoOrderRequest(
            "BTCUSDT",
            SELL,
            "STOP_MARKET",
            D(1),
            "a",
            trigger_price=D(5),
            reduce_only=False,
            price_protect=True,
        ).params()["priceProtect"]
        == "true"
    )


def test_new_client_id_shape() -> None:
    client_id = new_client_id("tt", 1, 1764128170037, "ab12")
    assert client_id == "tt-mifgd3qt-ab12-1"
    assert new_client_id("tt", 35, 0) == "tt-0-z"
    longest = new_client_id("traytrdr", 36**6 - 1, 2**42, session_tag(b"\xff" * 4))
    assert len(longest) <= 36 and CLIENT_ID_PATTERN.match(longest)


@given(
    prefix=st.from_regex(r"[A-Za-z0-9._-]{1,8}", fullmatch=True),
    counter=st.integers(0, 36**6 - 1),
    now_ms=st.integers(0, 2**42),
    entropy=st.binary(min_size=4, max_size=4),
)
def test_client_ids_match_binance_rule_and_avoid_colon_and_slash(
    prefix: str, counter: int, now_ms: int, entropy: bytes
) -> None:
    client_id = new_client_id(prefix, counter, now_ms, session_tag(entropy))
    assert CLIENT_ID_PATTERN.match(client_id)
    assert ":" not in client_id and "/" not in client_id


def test_client_ids_are_unique_across_counters_times_and_sessions() -> None:
    ids = {
        new_client_id("tt", counter, now, session)
        for counter in range(50)
        for now in (1764128170037, 1764128170038)
        for session in ("aaaa", "aaab")
    }
    assert len(ids) == 50 * 2 * 2


def test_client_id_errors() -> None:
    with pytest.raises(ValueError, match="only letters"):
        new_client_id("a:b", 1, 1)
    with pytest.raises(ValueError, match="only letters"):
        new_client_id("a", 1, 1, "x/y")
    with pytest.raises(ValueError, match="36"):
        new_client_id("x" * 30, 1, 1764128170037)
    with pytest.raises(ValueError):
        base36(-1)
    assert base36(0) == "0" and base36(36) == "10"
    assert session_tag(b"\x00") == "0000"


def test_symbol_without_optional_filters_skips_their_checks() -> None:
    raw = RAW["prod:BTCUSDT"]
    bare = parse_symbol_filters(
        {**raw, "filters": [f for f in raw["filters"]
                            if f["filterType"] not in ("MIN_NOTIONAL", "PERCENT_PRICE")]})
    order = build_entry_order(profile(quantity=D("0.001")), BUY, bare, D("60000"), D("90000"), D("50000"),
                              ONE_WAY, "c")
    assert order.quantity == D("0.001")  # 0.001 × 50000 = 50 and an ask far above the mark: nothing to check
    assert minimum_notional_for(bare, D("60000")) == D("60")
