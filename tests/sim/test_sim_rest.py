"""REST surface of the simulator over real loopback HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
from simkit import LIMIT_BUY, MARKET_BUY, STOP_SELL

from traytrader.sim import DEMO_API_KEY, Sim

REAL = Path(__file__).resolve().parents[1].joinpath("data/real")


async def test_public_market_data(rest, sim: Sim) -> None:
    status, body, headers = await rest.call("GET", "/fapi/v1/time", signed=False, key=None)
    assert status == 200 and abs(body["serverTime"] - sim.server.now_ms()) < 2000
    assert headers["X-MBX-USED-WEIGHT-1M"].isdigit()
    status, info, _ = await rest.call("GET", "/fapi/v1/exchangeInfo", signed=False, key=None)
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert list(info)[:4] == ["timezone", "serverTime", "futuresType", "rateLimits"]
    real_btc = json.loads(
        (REAL / "exchange_info/unattributed_PRODUCTION_btcusdt_symbol_entry_2026-09-15.json").read_text()
    )
    assert info["symbols"][0] == real_btc
    _, book, _ = await rest.call("GET", "/fapi/v1/ticker/bookTicker", {"symbol": "BTCUSDT"}, signed=False)
    assert book["bidPrice"] == "65000.00" and book["askPrice"] == "65000.10"
    assert set(book) == {"symbol", "bidPrice", "bidQty", "askPrice", "askQty", "time", "lastUpdateId"}
    _, books, _ = await rest.call("GET", "/fapi/v1/ticker/bookTicker", signed=False)
    assert len(books) == 3
    _, prem, _ = await rest.call("GET", "/fapi/v1/premiumIndex", {"symbol": "BTCUSDT"}, signed=False)
    real = json.loads(
        json.loads(
            (REAL / "unattributed/unattributed_fapi_PRODUCTION_rest_probe_2026-09-15.jsonl")
            .read_text()
            .splitlines()[0]
        )["body"]
    )
    assert list(prem) == list(real) and prem["markPrice"] == "65000.00000000"
    status, err, _ = await rest.call("GET", "/fapi/v1/ticker/price", {"symbol": "NOPE"}, signed=False)
    assert status == 400 and err == {"code": -1121, "msg": "Invalid symbol."}
    _, depth, _ = await rest.call("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 5}, signed=False)
    assert depth["bids"][0] == ["65000.00", "5.000"] and len(depth["asks"]) == 5  # one format with bookTicker


async def test_auth_errors(rest, sim: Sim) -> None:
    status, body, _ = await rest.call("GET", "/fapi/v2/balance", key=None)
    assert (status, body["code"]) == (401, -2014)
    status, body, _ = await rest.call("GET", "/fapi/v2/balance", key="unknown-key")
    assert (status, body["code"]) == (401, -2015)
    status, body, _ = await rest.call("GET", "/fapi/v2/balance", secret="wrong")
    assert (status, body) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})
    status, body, _ = await rest.call("GET", "/fapi/v2/balance", {"timestamp": sim.server.now_ms() - 10_000})
    assert body == {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
    status, body, _ = await rest.call("GET", "/fapi/v2/balance", {"timestamp": sim.server.now_ms() + 5000})
    assert body["code"] == -1021 and "ahead" in body["msg"]
    status, body, _ = await rest.call("GET", "/fapi/v2/balance", {"recvWindow": 60001})
    assert body["code"] == -1130
    status, body, _ = await rest.call(
        "GET", "/fapi/v2/balance", {"recvWindow": 60000, "timestamp": sim.server.now_ms() - 50_000}
    )
    assert status == 200 and body[0]["balance"] == "10000.00000000"
    async with aiohttp.ClientSession() as s, s.get(f"{sim.rest_url}/fapi/v1/nothing") as r:
        assert r.status == 404 and (await r.json())["code"] == -1000


async def test_settings_endpoints(rest) -> None:
    assert (await rest.call("GET", "/fapi/v1/positionSide/dual"))[1] == {"dualSidePosition": False}
    s, b, _ = await rest.call("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "false"})
    assert b == {"code": -4059, "msg": "No need to change position side."}
    s, b, _ = await rest.call("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true"})
    assert (s, b) == (200, {"code": 200, "msg": "success"})
    assert (await rest.call("GET", "/fapi/v1/positionSide/dual"))[1] == {"dualSidePosition": True}
    s, b, _ = await rest.call("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": 21})
    assert b == {"leverage": 21, "maxNotionalValue": "70000000", "symbol": "BTCUSDT"}  # 25x bracket cap
    s, b, _ = await rest.call("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": 126})
    assert b == {"code": -4028, "msg": "Leverage 126 is not valid"}
    s, b, _ = await rest.call("POST", "/fapi/v1/marginType", {"symbol": "BTCUSDT", "marginType": "CROSSED"})
    assert b["code"] == -4046
    s, b, _ = await rest.call("POST", "/fapi/v1/marginType", {"symbol": "BTCUSDT", "marginType": "ISOLATED"})
    assert b == {"code": 200, "msg": "success"}
    _, br, _ = await rest.call("GET", "/fapi/v1/leverageBracket", {"symbol": "ETHUSDT"})
    assert br["symbol"] == "ETHUSDT" and br["brackets"][0]["initialLeverage"] == 125
    _, risk, _ = await rest.call("GET", "/fapi/v2/positionRisk", {"symbol": "BTCUSDT"})
    assert [r["positionSide"] for r in risk] == ["LONG", "SHORT"] and risk[0]["marginType"] == "isolated"
    assert risk[0]["leverage"] == "21"


async def test_orders_and_algo_orders_over_rest(rest, sim: Sim) -> None:
    s, o, h = await rest.call("POST", "/fapi/v1/order", {**LIMIT_BUY, "newClientOrderId": "rest-1"})
    assert s == 200 and o["status"] == "NEW" and o["clientOrderId"] == "rest-1"
    assert h["X-MBX-ORDER-COUNT-10S"] == "1" and h["X-MBX-ORDER-COUNT-1M"] == "1"
    _, got, _ = await rest.call("GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "rest-1"})
    assert got["orderId"] == o["orderId"] and "time" in got
    _, opened, _ = await rest.call("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"})
    assert [x["orderId"] for x in opened] == [o["orderId"]]
    _, c, _ = await rest.call("DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": o["orderId"]})
    assert c["status"] == "CANCELED"
    s, c, _ = await rest.call("DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": o["orderId"]})
    assert c == {"code": -2011, "msg": "Unknown order sent."}
    s, c, _ = await rest.call("GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": 1})
    assert c == {"code": -2013, "msg": "Order does not exist."}
    _, m, _ = await rest.call("POST", "/fapi/v1/order", {**MARKET_BUY, "newOrderRespType": "RESULT"})
    assert m["status"] == "FILLED" and m["avgPrice"] == "65000.10" and m["cumQuote"] == "650.00100"
    s, a, _ = await rest.call(
        "POST",
        "/fapi/v1/algoOrder",
        {**STOP_SELL, "reduceOnly": "true", "clientAlgoId": "sl-1"},
    )
    assert s == 200 and a["algoStatus"] == "NEW" and a["orderType"] == "STOP_MARKET"
    assert a["activatePrice"] == "" and a["callbackRate"] == ""
    _, q, _ = await rest.call("GET", "/fapi/v1/algoOrder", {"algoId": a["algoId"]})
    assert q["clientAlgoId"] == "sl-1" and q["actualOrderId"] == ""
    _, oa, _ = await rest.call("GET", "/fapi/v1/openAlgoOrders", {"symbol": "BTCUSDT"})
    assert [x["algoId"] for x in oa] == [a["algoId"]]
    _, c, _ = await rest.call("DELETE", "/fapi/v1/algoOrder", {"clientAlgoId": "sl-1"})
    assert c == {"algoId": a["algoId"], "clientAlgoId": "sl-1", "code": "200", "msg": "success"}
    await rest.call("POST", "/fapi/v1/algoOrder", {**STOP_SELL, "reduceOnly": "true"})
    _, c, _ = await rest.call("DELETE", "/fapi/v1/algoOpenOrders", {"symbol": "BTCUSDT"})
    assert c["code"] == 200 and not (await rest.call("GET", "/fapi/v1/openAlgoOrders"))[1]
    await rest.call("POST", "/fapi/v1/order", LIMIT_BUY)
    _, c, _ = await rest.call("DELETE", "/fapi/v1/allOpenOrders", {"symbol": "BTCUSDT"})
    assert c["code"] == 200 and not (await rest.call("GET", "/fapi/v1/openOrders"))[1]
    _, v3, _ = await rest.call("GET", "/fapi/v3/positionRisk")
    assert [(r["symbol"], r["positionAmt"]) for r in v3] == [("BTCUSDT", "0.01")]
    _, acct, _ = await rest.call("GET", "/fapi/v2/account")
    assert acct["canTrade"] is True and Decimal_(acct["totalWalletBalance"]) < 10000
    _, acct3, _ = await rest.call("GET", "/fapi/v3/account")
    assert "canTrade" not in acct3 and acct3["positions"][0]["symbol"] == "BTCUSDT"
    state = sim.exchange.accounts[DEMO_API_KEY]
    assert state.positions[("BTCUSDT", "BOTH")].amount == Decimal_("0.010")


def Decimal_(s: str):
    from decimal import Decimal

    return Decimal(s)


async def test_listen_key_rest(rest) -> None:
    _, a, _ = await rest.call("POST", "/fapi/v1/listenKey", signed=False)
    _, b, _ = await rest.call("POST", "/fapi/v1/listenKey", signed=False)
    assert a == b and len(a["listenKey"]) == 64
    _, c, _ = await rest.call("PUT", "/fapi/v1/listenKey", signed=False)
    assert c == a
    _, d, _ = await rest.call("DELETE", "/fapi/v1/listenKey", signed=False)
    assert d == {}
    s, e, _ = await rest.call("PUT", "/fapi/v1/listenKey", signed=False)
    assert s == 400 and e["code"] == -1125


async def test_rate_limit_429_then_418(sim: Sim, http) -> None:
    sim.server.limiter.limits.weight_1m = 40
    sim.server.limiter.limits.ban_after = 2
    statuses = []
    for _ in range(12):
        async with http.get(f"{sim.rest_url}/fapi/v1/ticker/bookTicker") as r:  # weight 5
            statuses.append(r.status)
            if r.status in (418, 429):
                assert int(r.headers["Retry-After"]) >= 1
                body = await r.json()
                assert body["code"] == -1003
    assert statuses[:8] == [200] * 8 and statuses[8] == 429 and statuses[-1] == 418
