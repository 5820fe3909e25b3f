"""Faults a client must resolve: "execution status unknown" (-1006/-1007), a user-data stream that
drops alone, a listenKey that expires in the middle of a fill, and the home line (``--latency``)."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from simkit import MARKET_BUY, STOP_SELL, Rest, WsApi, control, next_event

from traytrader.sim import DEMO_API_KEY, Sim
from traytrader.sim.latency import Latency, parse_latency


async def listen_key(api: WsApi) -> str:
    r = await api.call("userDataStream.start", {"apiKey": DEMO_API_KEY}, sign=False)
    return r["result"]["listenKey"]


async def orders_with(http: aiohttp.ClientSession, sim: Sim, cid: str) -> list[dict]:
    st = (await control(http, sim, "GET", "state"))[1]
    return [o for o in st["orders"] if cid in (o.get("clientOrderId"), o.get("clientAlgoId"))]


@pytest.mark.parametrize("code,status", [(-1006, 503), (-1007, 408)])
async def test_status_unknown_not_executed(api: WsApi, sim: Sim, http, code: int, status: int) -> None:
    fault = {"kind": "status_unknown", "method": "order.place", "code": code, "executed": False}
    assert (await control(http, sim, "POST", "fault", fault))[0] == 200
    r = await api.call("order.place", {**MARKET_BUY, "newClientOrderId": "u1"})
    assert r["status"] == status and r["error"]["code"] == code and "status unknown" in r["error"]["msg"]
    assert await orders_with(http, sim, "u1") == []
    # The client's recovery: query by client id -> it does not exist, so placing again is safe.
    q = await api.call("order.status", {"symbol": "BTCUSDT", "origClientOrderId": "u1"})
    assert q["error"]["code"] == -2013


async def test_status_unknown_executed_at_once(api: WsApi, sim: Sim, http) -> None:
    fault = {"kind": "status_unknown", "method": "order.place", "code": -1006, "executed": True}
    await control(http, sim, "POST", "fault", fault)
    r = await api.call("order.place", {**MARKET_BUY, "newClientOrderId": "u2"})
    assert (r["status"], r["error"]["code"]) == (503, -1006)
    q = await api.call("order.status", {"symbol": "BTCUSDT", "origClientOrderId": "u2"})
    assert q["result"]["status"] == "FILLED"


async def test_status_unknown_algo_executes_after_the_answer(api: WsApi, rest: Rest, sim: Sim, http) -> None:
    """REST algoOrder: -1007 now, the algo order appears 300 ms later (a query in between misses it)."""
    await api.call("order.place", MARKET_BUY)  # a position for the stop
    key = await listen_key(api)
    fault = {"kind": "status_unknown", "method": "algoOrder.place", "code": -1007, "ms": 300}
    await control(http, sim, "POST", "fault", fault)
    async with http.ws_connect(f"{sim.stream_url}/private/ws/{key}") as ws:
        t0 = time.monotonic()
        status, body, _ = await rest.call("POST", "/fapi/v1/algoOrder", {**STOP_SELL, "clientAlgoId": "u3"})
        assert (status, body["code"]) == (408, -1007)
        assert await orders_with(http, sim, "u3") == []
        ev = await next_event(ws, "ALGO_UPDATE")
        assert ev["o"]["caid"] == "u3" and ev["o"]["X"] == "NEW" and time.monotonic() - t0 >= 0.29
    assert [o["status"] for o in await orders_with(http, sim, "u3")] == ["NEW"]


async def test_status_unknown_bad_parameters_are_refused(sim: Sim, http) -> None:
    for bad in ({"code": -1003}, {"executed": "yes"}):
        status, body = await control(http, sim, "POST", "fault", {"kind": "status_unknown", **bad})
        assert status == 400 and body["error"].endswith(".")


async def test_user_stream_drops_alone(api: WsApi, sim: Sim, http) -> None:
    key = await listen_key(api)
    async with http.ws_connect(f"{sim.stream_url}/private/ws/{key}") as user, http.ws_connect(
        f"{sim.stream_url}/market/ws/btcusdt@markPrice@1s"
    ) as market:
        _, body = await control(http, sim, "POST", "fault", {"kind": "drop_user_stream"})
        assert body == {"kind": "drop_user_stream", "dropped": 1}
        msg = await asyncio.wait_for(user.receive(), 5)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR)
        assert (await api.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False))["status"] == 200
        assert json.loads((await asyncio.wait_for(market.receive(), 5)).data)["e"] == "markPriceUpdate"
    async with http.ws_connect(f"{sim.stream_url}/private/ws/{key}") as again:  # the key still works
        await api.call("order.place", MARKET_BUY)
        assert (await next_event(again, "ORDER_TRADE_UPDATE"))["o"]["x"] == "NEW"


async def test_listen_key_expires_during_a_fill(api: WsApi, sim: Sim, http) -> None:
    key = await listen_key(api)
    fault = {"kind": "expire_listen_key_in_fill", "method": "order.place", "events": 1}
    await control(http, sim, "POST", "fault", fault)
    async with http.ws_connect(f"{sim.stream_url}/private/ws/{key}") as ws:
        r = await api.call("order.place", {**MARKET_BUY, "newClientOrderId": "u4"})
        assert r["status"] == 200
        seen = []
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            seen.append(json.loads(msg.data)["e"])
        assert seen == ["ORDER_TRADE_UPDATE", "listenKeyExpired"]
    r = await api.call("userDataStream.ping", {"apiKey": DEMO_API_KEY}, sign=False)
    assert r["error"]["code"] == -1125  # gone: the client must start a new key and resync
    assert [o["status"] for o in await orders_with(http, sim, "u4")] == ["FILLED"]


def test_latency_spec_parses_and_refuses() -> None:
    assert parse_latency("150±50") == parse_latency("150+-50") == parse_latency("150+/-50") == (150, 50)
    assert parse_latency("80") == (80, 0)
    for bad in ("", "fast", "-5", "150±", "999999"):
        with pytest.raises(ValueError):
            parse_latency(bad)
    a, b = Latency(150, 50, seed=3), Latency(150, 50, seed=3)
    draws = [a.sample_s() for _ in range(200)]
    assert draws == [b.sample_s() for _ in range(200)] and all(0.1 <= d <= 0.2 for d in draws)


async def test_latency_delays_every_surface_and_keeps_order(api: WsApi, rest: Rest, sim: Sim, http) -> None:
    key = await listen_key(api)
    _, body = await control(http, sim, "POST", "latency", {"ms": 150, "jitter": 50})
    assert body == {"ms": 150, "jitter": 50}
    assert (await control(http, sim, "GET", "state"))[1]["latency"] == body
    t0 = time.monotonic()
    assert (await rest.call("GET", "/fapi/v1/time", signed=False, key=None))[0] == 200
    assert time.monotonic() - t0 >= 0.099
    async with http.ws_connect(f"{sim.stream_url}/private/ws/{key}") as ws:
        t0 = time.monotonic()
        calls = [asyncio.ensure_future(api.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False))
                 for _ in range(10)]
        calls.append(asyncio.ensure_future(api.call("order.place", MARKET_BUY)))
        done_order = []
        for fut in asyncio.as_completed(calls):
            done_order.append((await fut)["id"])
        assert time.monotonic() - t0 >= 0.099 and done_order == sorted(done_order)  # per-connection order
        kinds = [(await next_event(ws, e))["e"] for e in ("ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE")]
        assert kinds == ["ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"]
    assert (await control(http, sim, "POST", "latency", {"ms": -1}))[0] == 400
    await control(http, sim, "POST", "latency", {"ms": 0})
    t0 = time.monotonic()
    await api.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False)
    assert time.monotonic() - t0 < 0.09


async def test_status_unknown_on_rest_order_and_ws_algo(api: WsApi, rest: Rest, sim: Sim, http) -> None:
    fault = {"kind": "status_unknown", "method": "POST /fapi/v1/order", "code": -1006, "executed": False}
    await control(http, sim, "POST", "fault", fault)
    status, body, _ = await rest.call("POST", "/fapi/v1/order", {**MARKET_BUY, "newClientOrderId": "u5"})
    assert (status, body["code"]) == (503, -1006) and await orders_with(http, sim, "u5") == []
    await api.call("order.place", MARKET_BUY)
    fault = {"kind": "status_unknown", "method": "algoOrder.place", "code": -1007, "executed": True}
    await control(http, sim, "POST", "fault", fault)
    r = await api.call("algoOrder.place", {**STOP_SELL, "clientAlgoId": "u6"})
    assert (r["status"], r["error"]["code"]) == (408, -1007)
    assert [o["status"] for o in await orders_with(http, sim, "u6")] == ["NEW"]


async def test_drop_after_reply_over_a_slow_line_still_delivers_the_reply(api: WsApi, sim: Sim, http) -> None:
    await control(http, sim, "POST", "latency", {"ms": 100})
    await control(http, sim, "POST", "fault", {"kind": "drop_after_reply", "method": "order.place"})
    r = await api.call("order.place", MARKET_BUY)
    assert r["status"] == 200
    await api.closed()
