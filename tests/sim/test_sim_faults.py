"""Injected faults, restarts with state kept, the session limit, and bad input that must not hurt."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from simkit import Rest, WsApi, control

from traytrader.sim import Sim, SimOptions, start_sim

MKT = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"}


async def state(http: aiohttp.ClientSession, sim: Sim) -> dict:
    return (await control(http, sim, "GET", "state"))[1]


def orders_with(st: dict, cid: str) -> list[dict]:
    return [o for o in st["orders"] if o.get("clientOrderId") == cid]


async def test_drop_before_reply_executes_then_drops(api: WsApi, sim: Sim, http) -> None:
    await control(
        http, sim, "POST", "fault", {"kind": "drop_before_reply", "method": "order.place", "count": 1}
    )
    with pytest.raises(ConnectionError):
        await api.call("order.place", {**MKT, "newClientOrderId": "d1"})
    st = await state(http, sim)
    assert [o["status"] for o in orders_with(st, "d1")] == ["FILLED"] and st["faults"] == []


async def test_drop_before_execute_does_nothing(api: WsApi, sim: Sim, http) -> None:
    await control(http, sim, "POST", "fault", {"kind": "drop_before_execute", "method": "order.place"})
    with pytest.raises(ConnectionError):
        await api.call("order.place", {**MKT, "newClientOrderId": "d2"})
    assert orders_with(await state(http, sim), "d2") == []


async def test_drop_after_reply_delivers_the_reply(api: WsApi, sim: Sim, http) -> None:
    await control(http, sim, "POST", "fault", {"kind": "drop_after_reply", "method": "order.place"})
    r = await api.call("order.place", {**MKT, "newClientOrderId": "d3"})
    assert r["status"] == 200
    await api.closed()


async def test_delay_holds_only_that_reply(api: WsApi, sim: Sim, http) -> None:
    await control(http, sim, "POST", "fault", {"kind": "delay", "method": "order.place", "ms": 400})
    t0 = time.monotonic()
    slow = asyncio.ensure_future(api.call("order.place", {**MKT, "newClientOrderId": "d4"}))
    fast = await api.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False)
    assert fast["status"] == 200 and not slow.done()
    assert orders_with(await state(http, sim), "d4")[0]["status"] == "FILLED"  # executed already
    r = await slow
    assert r["status"] == 200 and time.monotonic() - t0 >= 0.39


async def test_unknown_503_still_executes(api: WsApi, rest: Rest, sim: Sim, http) -> None:
    await control(http, sim, "POST", "fault", {"kind": "unknown_503", "method": "order.place", "count": 2})
    r = await api.call("order.place", {**MKT, "newClientOrderId": "u1"})
    assert r["status"] == 503
    assert r["error"] == {
        "code": -1000,
        "msg": "Unknown error, please check your request or try again later.",
    }
    status, body, _ = await rest.call("POST", "/fapi/v1/order", {**MKT, "newClientOrderId": "u2"})
    assert status == 503 and body["code"] == -1000
    st = await state(http, sim)
    assert orders_with(st, "u1") and orders_with(st, "u2")
    status, body, _ = await rest.call(
        "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "u2"}
    )
    assert status == 200 and body["status"] == "FILLED"


async def test_rest_drop_and_delete_fault(rest: Rest, sim: Sim, http) -> None:
    await control(http, sim, "POST", "fault", {"kind": "drop_before_reply", "method": "POST /fapi/v1/order"})
    with pytest.raises(aiohttp.ClientError):
        await rest.call("POST", "/fapi/v1/order", {**MKT, "newClientOrderId": "r1"})
    assert orders_with(await state(http, sim), "r1")
    await control(http, sim, "POST", "fault", {"kind": "delay", "method": "*", "count": 5, "ms": 10_000})
    await control(http, sim, "DELETE", "fault")
    status, _, _ = await rest.call("GET", "/fapi/v1/time", signed=False)
    assert status == 200 and (await state(http, sim))["faults"] == []


async def test_clock_skew(api: WsApi, sim: Sim, http) -> None:
    await control(http, sim, "POST", "fault", {"kind": "clock_skew", "ms": 10_000})
    r = await api.call("account.balance")
    assert r["error"]["code"] == -1021
    async with http.get(f"{sim.rest_url}/fapi/v1/time") as resp:
        assert (await resp.json())["serverTime"] - int(time.time() * 1000) > 9000
    await control(http, sim, "DELETE", "fault")
    assert (await api.call("account.balance"))["status"] == 200


async def test_close_all_and_restart_keep_state(sim: Sim, http) -> None:
    async with http.ws_connect(sim.ws_api_url) as ws:
        api = WsApi(ws)
        await api.call("order.place", {**MKT, "newClientOrderId": "keep"})
        await control(http, sim, "POST", "fault", {"kind": "close_all"})
        await api.closed()
    async with http.ws_connect(sim.ws_api_url) as ws:
        status, body = await control(http, sim, "POST", "restart")
        assert (status, body) == (200, {"restarted": True})
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    async with http.ws_connect(sim.ws_api_url) as ws:
        r = await WsApi(ws).call("order.status", {"symbol": "BTCUSDT", "origClientOrderId": "keep"})
        assert r["result"]["status"] == "FILLED"


async def test_session_limit_closes_connections(http) -> None:
    sim = await start_sim(SimOptions(session_limit_s=0.3))
    try:
        async with http.ws_connect(sim.ws_api_url) as ws:
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    finally:
        await sim.stop()


async def test_bad_control_input(sim: Sim, http) -> None:
    for route, body in (
        ("fault", {"kind": "nope"}),
        ("price", {"symbol": "XXX", "price": "1"}),
        ("price", {"symbol": "BTCUSDT", "price": "-1"}),
        ("step", {"symbol": "BTCUSDT", "n": -1}),
        ("fault", {"kind": "delay", "count": 0}),
    ):
        status, out = await control(http, sim, "POST", route, body)
        assert status == 400 and out["error"].endswith(".")
    async with http.post(
        f"{sim.control_url}/price", data=b"{oops", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
    async with http.get(f"{sim.control_url}/nothing") as r:
        assert r.status == 400


async def test_step_and_resume(sim: Sim, http) -> None:
    _, a = await control(http, sim, "POST", "step", {"symbol": "ETHUSDT", "n": 3})
    _, b = await control(http, sim, "POST", "step", {"symbol": "ETHUSDT", "n": 0})
    assert a == b and (await state(http, sim))["paused"]["ETHUSDT"] is True
    _, r = await control(http, sim, "POST", "resume", {"symbol": "ETHUSDT"})
    assert r["paused"]["ETHUSDT"] is False and r["paused"]["BTCUSDT"] is True


async def test_client_vanishing_mid_request_and_garbage(sim: Sim, http) -> None:
    host, port = "127.0.0.1", sim.port
    for junk in (
        b"POST /fapi/v1/order HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nsymbol=BTC",
        b"GET /ws-fapi/v1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x81\xfe",
        b"\x16\x03\x01garbage that is not http\r\n\r\n",
    ):
        _, writer = await asyncio.open_connection(host, port)
        writer.write(junk)
        await writer.drain()
        writer.close()  # vanish mid-request
    async with http.ws_connect(sim.ws_api_url) as ws:
        api = WsApi(ws)
        many = await asyncio.gather(
            *(api.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False) for _ in range(20))
        )
        assert all(r["status"] == 200 for r in many)
        r = await api.call("order.place", {"apiKey": 5, "signature": []}, sign=False)
        assert r["status"] in (400, 401)


async def test_state_filters(api: WsApi, sim: Sim, http) -> None:
    await api.call("order.place", {**MKT, "newClientOrderId": "f1"})
    t = sim.server.now_ms() + 1
    await control(http, sim, "POST", "price", {"symbol": "BTCUSDT", "price": "65000.0"})
    async with http.get(f"{sim.control_url}/state", params={"orders": "0"}) as r:
        assert (await r.json())["orders"] == []
    async with http.get(f"{sim.control_url}/state", params={"apiKey": "nobody"}) as r:
        assert (await r.json())["orders"] == []
    async with http.get(f"{sim.control_url}/state", params={"since": str(t + 60_000)}) as r:
        assert (await r.json())["orders"] == []
    async with http.get(f"{sim.control_url}/state", params={"since": "0"}) as r:
        assert [o["clientOrderId"] for o in (await r.json())["orders"]] == ["f1"]
    async with http.get(f"{sim.control_url}/state", params={"since": "soon"}) as r:
        assert r.status == 400
