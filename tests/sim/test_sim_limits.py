"""Order-rate limits, server pings, listenKey validity and the bounded order history."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp
from simkit import WsApi

from traytrader.sim import DEMO_API_KEY, SimOptions, start_sim
from traytrader.sim.accounts import demo_accounts
from traytrader.sim.exchange import Exchange
from traytrader.sim.market import Market
from traytrader.sim.settings import LISTEN_KEY_MS

MKT = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"}


async def test_orders_limit_answers_429_minus_1015(http: aiohttp.ClientSession) -> None:
    sim = await start_sim(SimOptions(orders_limit_10s=3))
    try:
        async with http.ws_connect(sim.ws_api_url) as ws:
            api = WsApi(ws)
            replies = [
                await api.call("order.place", {**MKT, "side": s}) for s in ("BUY", "SELL", "BUY", "SELL")
            ]
            assert [r["status"] for r in replies] == [200, 200, 200, 429]
            error = replies[-1]["error"]
            window_end = error["data"]["serverTime"] // 10_000 * 10_000 + 10_000  # fixed 10 s window
            assert error == {
                "code": -1015,
                "msg": "Too many new orders; current limit is 3 orders per 10 SECOND.",
                "data": {"serverTime": error["data"]["serverTime"], "retryAfter": window_end},
            }
            assert replies[2]["rateLimits"][1] == {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": 3,
                "count": 3,
            }
    finally:
        await sim.stop()


async def test_server_sends_pings(http: aiohttp.ClientSession) -> None:
    sim = await start_sim(SimOptions(ping_interval_s=0.2))
    try:
        async with http.ws_connect(sim.ws_api_url, autoping=False) as ws:
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type == aiohttp.WSMsgType.PING
            await ws.pong(msg.data)
    finally:
        await sim.stop()


def test_listen_key_lives_60_minutes_and_keepalive_extends() -> None:
    ex = Exchange(Market.load(), demo_accounts(), 0)
    key = ex.start_listen_key(DEMO_API_KEY, 0)
    assert ex.start_listen_key(DEMO_API_KEY, 1000) == key  # POST returns the active key (and extends)
    assert ex.keepalive_listen_key(DEMO_API_KEY, LISTEN_KEY_MS) == key
    assert ex.expire_listen_keys(2 * LISTEN_KEY_MS - 1) == []  # extended to 2 * 60 min
    assert ex.listen_key_owner(key, 2 * LISTEN_KEY_MS - 1) == DEMO_API_KEY
    assert ex.expire_listen_keys(2 * LISTEN_KEY_MS) == [key]
    assert ex.listen_key_owner(key, 0) is None


def test_history_is_bounded_and_lookups_survive() -> None:
    ex = Exchange(Market.load(), demo_accounts(), 0, history_limit=100)
    ex.set_quote("BTCUSDT", Decimal("65000"), 0)
    resting = ex.place_order(
        DEMO_API_KEY,
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.002",
            "price": "60000.0",
            "newClientOrderId": "old",
        },
        0,
    )
    for i in range(500):
        ex.place_order(
            DEMO_API_KEY, {**MKT, "side": "BUY" if i % 2 else "SELL", "newClientOrderId": f"c{i}"}, i
        )
    ex.outbox.clear()
    assert len(ex.orders) == 100 and len(ex.order_by_client) == 100
    assert (
        ex.query_order(DEMO_API_KEY, {"symbol": "BTCUSDT", "origClientOrderId": "old"})["orderId"]
        == resting["orderId"]
    )  # an open order is never forgotten
    assert (
        ex.query_order(DEMO_API_KEY, {"symbol": "BTCUSDT", "origClientOrderId": "c499"})["status"] == "FILLED"
    )


async def test_measure_records_server_time_per_order(http: aiohttp.ClientSession) -> None:
    sim = await start_sim(SimOptions(measure=True))
    try:
        async with http.ws_connect(sim.ws_api_url) as ws:
            api = WsApi(ws)
            await api.call("order.place", MKT)
            await api.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False)  # not an order: not timed
        assert len(sim.server.timings_ns) == 1 and 0 < sim.server.timings_ns[0] < 1_000_000_000
    finally:
        await sim.stop()
