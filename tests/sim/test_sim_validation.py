"""Every validation code the simulator answers, over the WS API, with Binance's texts."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from simkit import LIMIT_BUY, MARKET_BUY, STOP_SELL, WsApi, control

from traytrader.sim import DEMO_API_KEY, Sim
from traytrader.sim.errors import SimError
from traytrader.sim.exchange import Exchange
from traytrader.sim.market import Market
from traytrader.sim.validation import validate_order

M, L, A = MARKET_BUY, LIMIT_BUY, STOP_SELL


def w(base: dict, **kw: object) -> dict:
    out = {**base, **kw}
    return {k: v for k, v in out.items() if v is not None}


ORDER_CASES = [
    (
        w(M, quantity=None),
        -1102,
        "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
    ),
    (w(M, quantity="abc"), -1102, None),
    (w(M, symbol="NOPE"), -1121, "Invalid symbol."),
    (w(M, side="UP"), -1117, "Invalid side."),
    (w(M, type="ICEBERG"), -1116, "Invalid orderType."),
    (
        w(M, type="STOP_MARKET"),
        -4120,
        "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
    ),
    (w(M, positionSide="LONG"), -4061, "Order's position side does not match user's setting."),
    (w(M, positionSide="UP"), -4060, "Invalid position side."),
    (w(L, timeInForce=None), -1102, None),
    (w(L, timeInForce="XYZ"), -1115, "Invalid timeInForce."),
    (w(L, price="64000.05"), -4014, "Price not increased by tick size."),
    (w(L, price="64000.001"), -1111, "Precision is over the maximum defined for this asset."),
    (w(L, price="100.0"), -4013, "Price less than min price."),
    (w(L, price="99999999.0"), -4002, "Price greater than max price."),
    (w(L, price="0"), -4001, "Price less than 0."),
    (w(L, price="65100.0"), None, None),  # marketable: fills as taker
    (w(L, price="68300.0"), -4016, "Price is higher than mark price multiplier cap."),
    (w(L, side="SELL", price="61700.0"), -4024, "Price is lower than mark price multiplier floor."),
    (w(M, quantity="0.0001"), -1111, None),
    (w(M, quantity="0"), -4003, "Quantity less than zero."),
    (w(M, quantity="121"), -4005, "Quantity greater than max quantity."),
    (w(M, quantity="0.000"), -4003, None),
    (w(M, quantity="0.0005"), -1111, None),
    (
        w(L, quantity="0.001", price="40000.0"),
        -4164,
        "Order's notional must be no smaller than 50.0 (unless you choose reduce only)",
    ),
    (w(M, newClientOrderId="x" * 37), -4015, "Client order id length should not be more than 36 chars"),
    (w(M, newClientOrderId="bad id!"), -4015, "Client order id is not valid."),
    (w(M, reduceOnly="true"), -2022, "ReduceOnly Order is rejected."),
    (w(M, quantity="10"), -2019, "Margin is insufficient."),
    (
        w(L, timeInForce="FOK"),
        -5021,
        "Due to the order could not be filled immediately, the FOK order has been rejected.",
    ),
    (
        w(L, timeInForce="GTX", price="65100.0"),
        -5022,
        "Due to the order could not be executed as maker, the Post Only order will be rejected.",
    ),
    (w(L, timeInForce="GTD"), -1102, None),
    (w(L, timeInForce="GTD", goodTillDate=1), -5040, None),
    (w(M, price="1"), -1106, "Parameter 'price' sent when not required."),
    (w(M, newOrderRespType="FULL"), -1130, "Data sent for parameter 'newOrderRespType' is not valid."),
]


@pytest.mark.parametrize(("params", "code", "msg"), ORDER_CASES)
async def test_order_place_codes(api: WsApi, params: dict, code: int | None, msg: str | None) -> None:
    r = await api.call("order.place", params)
    if code is None:
        assert r["status"] == 200, r
        return
    assert r["status"] == 400 and r["error"]["code"] == code, r
    if msg is not None:
        assert r["error"]["msg"] == msg


ALGO_CASES = [
    (w(A, algoType=None), -1102),
    (w(A, type="LIMIT"), -1116),
    (w(A, triggerPrice=None), -1102),
    (w(A, triggerPrice="66000.0"), -2021),  # SELL stop above the price: would trigger now
    (w(A, type="TAKE_PROFIT_MARKET", triggerPrice="64000.0"), -2021),
    (w(A, type="STOP", price=None), -1102),
    (w(A, price="60000.0"), -1106),
    (w(A, closePosition="true"), -4137),
    (w(A, quantity=None, closePosition="true", reduceOnly="true"), -1106),
    (w(A, type="STOP", price="59000.0", quantity=None, closePosition="true"), -1106),
    (w(A, type="TRAILING_STOP_MARKET", triggerPrice=None), -1102),
    (w(A, type="TRAILING_STOP_MARKET", triggerPrice=None, callbackRate="0.05"), -4136),
    (w(A, type="TRAILING_STOP_MARKET", triggerPrice=None, callbackRate="20.1"), -4136),
    (w(A, type="TRAILING_STOP_MARKET", triggerPrice=None, callbackRate="20"), None),
    (
        w(A, type="TRAILING_STOP_MARKET", triggerPrice=None, callbackRate="0.25", activatePrice="64000.0"),
        -2021,
    ),
    (w(A, type="TRAILING_STOP_MARKET", triggerPrice=None, callbackRate="1", activatePrice="66000.05"), -4135),
    (w(A, type="TRAILING_STOP_MARKET", callbackRate="1"), -1106),
    (w(A, triggerPrice="60000.05"), -4014),
    (w(A, clientAlgoId="c" * 40), -4015),
    (w(A, workingType="LAST"), -1130),
    (
        w(
            A,
            side="BUY",
            type="TRAILING_STOP_MARKET",
            triggerPrice=None,
            callbackRate="1",
            activatePrice="66000.0",
        ),
        -2021,
    ),
]


@pytest.mark.parametrize(("params", "code"), ALGO_CASES)
async def test_algo_place_codes(api: WsApi, params: dict, code: int | None) -> None:
    r = await api.call("algoOrder.place", params)
    if code is None:
        assert r["status"] == 200, r
    else:
        assert r["error"]["code"] == code, r


async def test_duplicates_and_limits(api: WsApi, sim: Sim) -> None:
    r = await api.call("order.place", w(L, newClientOrderId="dup"))
    assert r["status"] == 200
    r = await api.call("order.place", w(L, newClientOrderId="dup"))
    assert r["error"] == {"code": -4116, "msg": "clientOrderId is duplicated"}
    r = await api.call("algoOrder.place", w(A, closePosition="true", quantity=None, clientAlgoId="cp1"))
    assert r["status"] == 200
    r = await api.call("algoOrder.place", w(A, closePosition="true", quantity=None))
    assert r["error"]["code"] == -4130
    r = await api.call("algoOrder.place", w(A, clientAlgoId="cp1"))
    assert r["error"]["code"] == -4116
    assert (await api.call("algoOrder.cancel", {"algoId": 1}))["error"]["code"] == -2011
    assert (await api.call("algoOrder.cancel", {}))["error"]["code"] == -1102
    assert (await api.call("order.status", {"symbol": "BTCUSDT"}))["error"]["code"] == -1102


async def test_algo_account_limit_200(api: WsApi) -> None:
    for i in range(200):
        r = await api.call("algoOrder.place", w(A, triggerPrice=str(50000 + i) + ".0"), timeout=10)
        assert r["status"] == 200, r
    r = await api.call("algoOrder.place", w(A, triggerPrice="40000.0"))
    assert r["error"] == {"code": -4045, "msg": "Reach max stop order limit."}


async def test_hedge_mode_rules(api: WsApi, sim: Sim, http) -> None:
    status, _ = await control(http, sim, "POST", "position_mode", {"apiKey": DEMO_API_KEY, "mode": "hedge"})
    assert status == 200, _
    r = await api.call("order.place", M)
    assert r["error"]["code"] == -4061
    r = await api.call("order.place", w(M, positionSide="LONG", reduceOnly="true"))
    assert r["error"] == {"code": -1106, "msg": "Parameter 'reduceonly' sent when not required."}
    r = await api.call("order.place", w(M, positionSide="LONG"))
    assert r["status"] == 200 and r["result"]["positionSide"] == "LONG"
    r = await api.call("order.place", w(M, side="SELL", positionSide="LONG", quantity="0.020"))
    assert r["error"]["code"] == -2022
    r = await api.call("order.place", w(M, side="SELL", positionSide="SHORT"))
    assert r["status"] == 200
    pos = {(p["positionSide"], p["positionAmt"]) for p in (await api.call("v2/account.position"))["result"]}
    assert pos == {("LONG", "0.01"), ("SHORT", "-0.01")}
    status, body = await control(http, sim, "POST", "position_mode", {"mode": "one-way"})
    assert status == 400 and body["code"] == -4068


def test_step_size_code_with_a_coarse_step() -> None:
    """-4023 needs a step coarser than the precision; no shipped symbol has one, so build one."""
    market = Market.load()
    spec = replace(
        market.specs["BTCUSDT"],
        step_size=Decimal("0.005"),
        min_qty=Decimal("0.005"),
        market_step_size=Decimal("0.005"),
        market_min_qty=Decimal("0.005"),
    )
    with pytest.raises(SimError) as info:
        validate_order(w(M, quantity="0.012"), {"BTCUSDT": spec}, False, Decimal(65000), 0)
    assert info.value.code == -4023 and info.value.msg == "Qty not increased by step size."
    assert validate_order(
        w(M, quantity="0.015"), {"BTCUSDT": spec}, False, Decimal(65000), 0
    ).quantity == Decimal("0.015")
    with pytest.raises(SimError) as info:
        validate_order(w(M, quantity="0.004"), {"BTCUSDT": spec}, False, Decimal(65000), 0)
    assert info.value.code == -4004


def test_max_open_orders_per_symbol() -> None:
    from traytrader.sim.accounts import demo_accounts

    ex = Exchange(Market.load(), demo_accounts(), 0)
    ex.set_quote("BTCUSDT", Decimal("65000"), 0)
    for i in range(200):
        ex.place_order(DEMO_API_KEY, w(L, price=str(60000 + i) + ".0"), 0)
    with pytest.raises(SimError) as info:
        ex.place_order(DEMO_API_KEY, w(L, price="59000.0"), 0)
    assert info.value.code == -2025
