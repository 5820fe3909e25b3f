"""Injected rate-limit faults (``rate_limit_429``, ``ban_418``) on the WS API and REST, and the
server's pong timeout. Time moves with the ``clock_skew`` fault, so no test waits for a window."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from simkit import MARKET_BUY, Rest, WsApi, control

from traytrader.sim import Sim, SimOptions, start_sim

WEIGHT_TEXT = (
    "Too many requests; current limit is 2400 requests per minute. Please use the websocket for live "
    "updates to avoid polling the API."
)


async def fault(http: aiohttp.ClientSession, sim: Sim, **body: object) -> dict:
    status, answer = await control(http, sim, "POST", "fault", body)
    assert status == 200, answer
    return answer


async def state(http: aiohttp.ClientSession, sim: Sim) -> dict:
    return (await control(http, sim, "GET", "state"))[1]


def orders_with(st: dict, cid: str) -> list[dict]:
    return [o for o in st["orders"] if o.get("clientOrderId") == cid]


async def test_ws_429_refuses_the_order_and_holds_the_ip_for_ms(api: WsApi, sim: Sim, http) -> None:
    armed = await fault(http, sim, kind="rate_limit_429", method="order.place", ms=300)
    assert armed["faults"] == [{"kind": "rate_limit_429", "method": "order.place", "count": 1, "ms": 300,
                                "code": -1003}]
    r = await api.call("order.place", {**MARKET_BUY, "newClientOrderId": "rl-1"})
    server_time = r["error"]["data"]["serverTime"]
    assert r["status"] == 429
    assert r["error"] == {"code": -1003, "msg": WEIGHT_TEXT,
                          "data": {"serverTime": server_time, "retryAfter": server_time + 300}}
    assert [x["rateLimitType"] for x in r["rateLimits"]] == ["REQUEST_WEIGHT", "ORDERS", "ORDERS"]
    # Any request from that IP inside the window is refused too, with the same retryAfter.
    again = await api.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False)
    assert again["status"] == 429 and again["error"]["data"]["retryAfter"] == server_time + 300
    st = await state(http, sim)
    assert orders_with(st, "rl-1") == [] and st["faults"] == []
    assert st["limits"]["weightLimitedUntil"] == {"127.0.0.1": server_time + 300}
    assert st["limits"]["refused"] == {"127.0.0.1": 2}
    await fault(http, sim, kind="clock_skew", ms=400)  # the window is over
    ok = await api.call("order.place", {**MARKET_BUY, "newClientOrderId": "rl-2"})
    assert ok["status"] == 200
    st = await state(http, sim)
    assert [o["status"] for o in orders_with(st, "rl-2")] == ["FILLED"]
    assert st["limits"]["weightLimitedUntil"] == {}


async def test_rest_429_sends_retry_after_seconds_and_binance_body(rest: Rest, sim: Sim, http) -> None:
    await fault(http, sim, kind="rate_limit_429", method="POST /fapi/v1/order", ms=2_500)
    order = {**MARKET_BUY, "newClientOrderId": "r1"}
    status, body, headers = await rest.call("POST", "/fapi/v1/order", order)
    assert status == 429 and body == {"code": -1003, "msg": WEIGHT_TEXT}
    assert headers["Retry-After"] == "3" and "X-MBX-USED-WEIGHT-1M" in headers
    status, _, headers = await rest.call("GET", "/fapi/v1/time", signed=False, key=None)
    assert status == 429 and int(headers["Retry-After"]) in (2, 3)
    assert orders_with(await state(http, sim), "r1") == []


async def test_orders_429_minus_1015_refuses_only_new_orders(api: WsApi, sim: Sim, http) -> None:
    await fault(http, sim, kind="rate_limit_429", method="order.place", ms=500, code=-1015)
    r = await api.call("order.place", {**MARKET_BUY, "newClientOrderId": "o1"})
    assert r["status"] == 429 and r["error"]["code"] == -1015
    assert r["error"]["msg"] == "Too many new orders; current limit is 300 orders per 10 SECOND."
    assert r["error"]["data"]["retryAfter"] == r["error"]["data"]["serverTime"] + 500
    assert (await api.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False))["status"] == 200
    assert (await api.call("order.place", {**MARKET_BUY, "newClientOrderId": "o2"}))["status"] == 429
    await fault(http, sim, kind="clock_skew", ms=600)
    assert (await api.call("order.place", {**MARKET_BUY, "newClientOrderId": "o3"}))["status"] == 200
    st = await state(http, sim)
    assert [o["clientOrderId"] for o in st["orders"]] == ["o3"]


async def test_ban_418_refuses_every_request_until_it_expires(api: WsApi, rest: Rest, sim: Sim, http) -> None:
    await fault(http, sim, kind="ban_418", method="order.place", ms=2_000)
    r = await api.call("order.place", {**MARKET_BUY, "newClientOrderId": "b1"})
    until = r["error"]["data"]["retryAfter"]
    assert r["status"] == 418 and until == r["error"]["data"]["serverTime"] + 2_000
    assert r["error"] == {
        "code": -1003,
        "msg": f"Way too many requests; IP banned until {until}. Please use the websocket for live updates "
        "to avoid bans.",
        "data": {"serverTime": r["error"]["data"]["serverTime"], "retryAfter": until},
    }
    # Reduce-only closes, cancels, market data, REST, new connections: all refused.
    close = {**MARKET_BUY, "side": "SELL", "reduceOnly": "true", "newClientOrderId": "b2"}
    assert (await api.call("order.place", close))["status"] == 418
    assert (await api.call("ticker.book", {"symbol": "BTCUSDT"}, sign=False))["status"] == 418
    status, body, headers = await rest.call("GET", "/fapi/v2/balance")
    assert status == 418 and body["code"] == -1003 and headers["Retry-After"] == "2"
    async with http.ws_connect(sim.ws_api_url) as ws:
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == 1008
    st = await state(http, sim)
    assert st["limits"]["bannedUntil"] == {"127.0.0.1": until}
    assert st["limits"]["refused"] == {"127.0.0.1": 5}
    assert orders_with(st, "b1") == orders_with(st, "b2") == []
    await fault(http, sim, kind="clock_skew", ms=2_100)
    assert (await api.call("order.place", {**MARKET_BUY, "newClientOrderId": "b3"}))["status"] == 200


async def test_requests_during_an_injected_429_earn_a_ban(api: WsApi, sim: Sim, http) -> None:
    sim.server.limiter.limits.ban_after = 2
    await fault(http, sim, kind="rate_limit_429", method="*", ms=5_000)
    statuses = [(await api.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False))["status"]
                for _ in range(5)]
    # The fault's own answer, then ban_after strikes; the next strike starts the ban (answered 429).
    assert statuses == [429, 429, 429, 429, 418]
    assert (await state(http, sim))["limits"]["bannedUntil"]


async def test_delete_fault_lifts_bans_and_injected_limits(api: WsApi, sim: Sim, http) -> None:
    await fault(http, sim, kind="ban_418", ms=60_000)
    assert (await api.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False))["status"] == 418
    status, answer = await control(http, sim, "DELETE", "fault")
    assert status == 200 and answer == {"faults": []}
    assert (await api.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False))["status"] == 200
    assert (await state(http, sim))["limits"]["bannedUntil"] == {}


async def test_ban_without_ms_lasts_binance_first_two_minutes(api: WsApi, sim: Sim, http) -> None:
    await fault(http, sim, kind="ban_418")
    r = await api.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False)
    assert r["error"]["data"]["retryAfter"] - r["error"]["data"]["serverTime"] == 120_000


async def test_bad_limit_fault_bodies_are_refused(sim: Sim, http) -> None:
    for body, words in (
        ({"kind": "rate_limit_429", "code": -1021}, "'code' must be -1003"),
        ({"kind": "rate_limit_429", "code": True}, "'code' must be -1003"),
        ({"kind": "ban_418", "ms": -1}, "'ms' must not be negative"),
    ):
        status, answer = await control(http, sim, "POST", "fault", body)
        assert status == 400 and words in answer["error"], answer
    assert (await state(http, sim))["faults"] == []


# --- pongs ----------------------------------------------------------------------------------------

def test_default_pong_timeout_is_binance_ten_minutes() -> None:
    assert SimOptions().pong_timeout_s == 600.0 and SimOptions().ping_interval_s == 180.0


async def _seconds_from_ping_to_close(url: str, http: aiohttp.ClientSession) -> float:
    async with http.ws_connect(url, autoping=False) as ws:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.PING
        pinged = time.monotonic()
        msg = await ws.receive(timeout=10)   # never answer: the server must give up on us
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        return time.monotonic() - pinged


async def test_no_pong_closes_after_pong_timeout_not_half_the_ping_interval(http) -> None:
    # aiohttp on its own would close 0.1 s (half the heartbeat) after the ping.
    sim = await start_sim(SimOptions(ping_interval_s=0.2, pong_timeout_s=1.0))
    try:
        waits = await asyncio.gather(
            _seconds_from_ping_to_close(sim.ws_api_url, http),
            _seconds_from_ping_to_close(sim.stream_url + "/market/ws/btcusdt@bookTicker", http),
        )
        for waited in waits:
            assert 0.9 <= waited < 3.0, waits
    finally:
        await sim.stop()
