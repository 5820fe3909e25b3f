"""The WebSocket API (ws-fapi) over real loopback sockets: envelope, auth, orders, account."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
from simkit import LIMIT_BUY, WsApi, ed_sign, now_ms

from traytrader.sim import DEMO_ED25519_API_KEY, Sim

REAL = Path(__file__).resolve().parents[1].joinpath("data/real/ws_api")


def real(name: str) -> dict:
    return json.loads((REAL / name).read_text())


async def test_market_order_result_matches_real_shape(api: WsApi) -> None:
    r = await api.call(
        "order.place",
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "MARKET",
            "quantity": "0.002",
            "newOrderRespType": "RESULT",
            "newClientOrderId": "k-1",
        },
    )
    sample = real("roq_fapi_wsapi_order_place_success.json")
    assert r["status"] == 200 and list(r["result"]) == list(sample["result"])
    res = r["result"]
    assert (res["status"], res["executedQty"], res["avgPrice"], res["cumQuote"]) == (
        "FILLED",
        "0.002",
        "65000.10",
        "130.00020",
    )
    assert [x["rateLimitType"] for x in r["rateLimits"]] == [x["rateLimitType"] for x in sample["rateLimits"]]
    ack = await api.call(
        "order.place", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.002"}
    )
    assert ack["result"]["status"] == "NEW" and ack["result"]["executedQty"] == "0.000"
    st = await api.call("order.status", {"symbol": "BTCUSDT", "orderId": ack["result"]["orderId"]})
    assert st["result"]["status"] == "FILLED"


async def test_limit_rest_modify_cancel(api: WsApi) -> None:
    r = await api.call("order.place", {**LIMIT_BUY, "newClientOrderId": "lim-1"})
    assert r["result"]["status"] == "NEW" and r["result"]["price"] == "64000.00"
    modify = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "quantity": "0.020",
        "price": "64100.0",
        "origClientOrderId": "lim-1",
    }
    m = await api.call("order.modify", modify)
    assert m["result"]["origQty"] == "0.020" and m["result"]["price"] == "64100.00"
    same = await api.call("order.modify", modify)   # the same values again
    assert same["error"]["code"] == -5027
    c = await api.call("order.cancel", {"symbol": "BTCUSDT", "origClientOrderId": "lim-1"})
    sample = real("roq_fapi_wsapi_order_cancel_success.json")
    assert c["result"]["status"] == "CANCELED" and list(c["result"]) == list(sample["result"])
    again = await api.call("order.cancel", {"symbol": "BTCUSDT", "origClientOrderId": "lim-1"})
    assert again["error"] == real("roq_fapi_wsapi_order_cancel_error_-2011.json")["error"]
    assert again["status"] == 400
    ioc = await api.call("order.place", {**LIMIT_BUY, "timeInForce": "IOC", "newOrderRespType": "RESULT"})
    assert ioc["result"]["status"] == "EXPIRED"
    taker = await api.call("order.place", {**LIMIT_BUY, "price": "65100.0", "newOrderRespType": "RESULT"})
    assert taker["result"]["status"] == "FILLED" and taker["result"]["avgPrice"] == "65000.10"


async def test_session_logon_ed25519_and_hmac_refused(api: WsApi) -> None:
    st = await api.call("session.status", sign=False)
    assert st["result"]["apiKey"] is None and st["result"]["authorizedSince"] is None
    hmac_logon = await api.call("session.logon")
    assert hmac_logon["error"] == real("roq_fapi_wsapi_session_logon_error_-1022.json")["error"]
    logon = await api.call("session.logon", key="ed25519")
    sample = real("roq_fapi_wsapi_session_logon_success_APIKEY_REDACTED.json")
    assert (
        list(logon["result"]) == list(sample["result"]) and logon["result"]["apiKey"] == DEMO_ED25519_API_KEY
    )
    # After logon: no apiKey/signature, timestamp still required.
    r = await api.call(
        "order.place",
        {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010", "timestamp": now_ms()},
        sign=False,
    )
    assert r["status"] == 200
    r = await api.call("account.balance", {}, sign=False)
    assert r["error"]["code"] == -1102 and "timestamp" in r["error"]["msg"]
    out = await api.call("session.logout", sign=False)
    assert out["result"]["apiKey"] is None
    r = await api.call("account.balance", {"timestamp": now_ms()}, sign=False)
    assert r["error"]["code"] == -1102 and "apiKey" in r["error"]["msg"]


async def test_signed_errors(api: WsApi) -> None:
    r = await api.call("account.status", {"apiKey": "nobody"})
    assert (r["status"], r["error"]["code"]) == (401, -2015)
    p = {"apiKey": DEMO_ED25519_API_KEY, "timestamp": now_ms()}
    p["signature"] = ed_sign("apiKey=someone-else&timestamp=1")
    r = await api.call("account.status", p, sign=False)
    assert r["error"]["code"] == -1022
    r = await api.call("account.status", {"timestamp": now_ms() - 6000})
    assert r["error"]["code"] == -1021
    r = await api.call("account.status", {"timestamp": now_ms() - 6000, "recvWindow": 10000})
    assert r["status"] == 200


async def test_account_views_and_tickers(api: WsApi) -> None:
    await api.call("order.place", {"symbol": "SOLUSDT", "side": "SELL", "type": "MARKET", "quantity": "1.00"})
    pos = await api.call("account.position", {"symbol": "SOLUSDT"})
    assert pos["result"][0]["positionAmt"] == "-1" and pos["result"][0]["marginType"] == "cross"
    v2 = await api.call("v2/account.position")
    assert [p["symbol"] for p in v2["result"]] == ["SOLUSDT"] and "adl" in v2["result"][0]
    st = await api.call("account.status")
    sample = real("roq_fapi_wsapi_account_status.json")["result"]
    assert set(sample) <= set(st["result"])
    bal = await api.call("account.balance")
    assert set(bal["result"][0]) == set(real("roq_fapi_wsapi_account_balance.json")["result"][0])
    t = await api.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False)
    assert t["result"]["price"] == "65000.00" and t["rateLimits"][0]["count"] >= 1
    b = await api.call("ticker.book", {}, sign=False)
    assert len(b["result"]) == 3


async def test_user_data_stream_methods(api: WsApi) -> None:
    s = await api.call("userDataStream.start", {"apiKey": api_key()}, sign=False)
    key = s["result"]["listenKey"]
    p = await api.call("userDataStream.ping", {"apiKey": api_key()}, sign=False)
    assert p["result"] == {"listenKey": key}
    assert (await api.call("userDataStream.stop", {"apiKey": api_key()}, sign=False))["result"] == {}
    p = await api.call("userDataStream.ping", {"apiKey": api_key()}, sign=False)
    assert p["error"]["code"] == -1125


def api_key() -> str:
    from traytrader.sim import DEMO_API_KEY

    return DEMO_API_KEY


async def test_envelope_and_bad_input(sim: Sim, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(sim.ws_api_url + "?returnRateLimits=false") as ws:
        await ws.send_str("{not json")
        assert await ws.receive_json() == real("roq_wsapi_error_-1000_invalid_json.json")
        await ws.send_str(json.dumps({"id": "a", "method": "no.such", "params": {}}))
        r = await ws.receive_json()
        assert r["id"] == "a" and r["status"] == 400 and r["error"]["code"] == -1000 and "rateLimits" not in r
        await ws.send_bytes(b"\x00\x01")
        assert (await ws.receive_json())["error"]["code"] == -1000
        await ws.send_str(json.dumps({"id": 5, "method": "ticker.price", "params": ["x"]}))
        assert (await ws.receive_json())["error"]["code"] == -1102
        await ws.send_str(
            json.dumps(
                {
                    "id": None,
                    "method": "ticker.price",
                    "params": {"symbol": "ETHUSDT", "returnRateLimits": True},
                }
            )
        )
        r = await ws.receive_json()
        assert r["id"] is None and r["result"]["symbol"] == "ETHUSDT" and "rateLimits" in r
        await ws.send_str("x" * (2 << 20))  # bigger than the 1 MiB frame limit: a clean close
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    async with http.ws_connect(sim.ws_api_url) as ws:  # the server is still fine
        await ws.send_str(json.dumps({"id": 1, "method": "ticker.price", "params": {"symbol": "BTCUSDT"}}))
        assert (await ws.receive_json())["status"] == 200
