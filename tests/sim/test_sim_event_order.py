"""Event order as seen live: each documented order of a fill's events, and the reply before or after."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from simkit import BTC_PRICE, MARKET_BUY, WsApi

from traytrader.sim import DEMO_API_KEY, Sim, SimOptions, start_sim
from traytrader.sim.event_order import EventOrder

EXPECTED = {
    "classic": ["NEW", "TRADE_LITE", "ACCOUNT_UPDATE", "TRADE"],
    "lite-first": ["TRADE_LITE", "NEW", "ACCOUNT_UPDATE", "TRADE"],
    "trade-first": ["NEW", "TRADE", "TRADE_LITE", "ACCOUNT_UPDATE"],
}


async def started(**kw: object) -> Sim:
    s = await start_sim(SimOptions(seed=7, **kw))  # type: ignore[arg-type]
    s.server.apply_price("BTCUSDT", s.server.paths["BTCUSDT"].set(BTC_PRICE), s.server.now_ms())
    return s


def name(ev: dict) -> str:
    return ev["o"]["x"] if ev["e"] == "ORDER_TRADE_UPDATE" else ev["e"]


async def fill_events(sim: Sim, http: aiohttp.ClientSession, n_orders: int = 1) -> list[list[str]]:
    """The user-data events of ``n_orders`` MARKET orders, one list per order."""
    async with http.ws_connect(sim.ws_api_url) as ws:
        api = WsApi(ws)
        r = await api.call("userDataStream.start", {"apiKey": DEMO_API_KEY}, sign=False)
        async with http.ws_connect(f"{sim.stream_url}/private/ws/{r['result']['listenKey']}") as user:
            out = []
            for _ in range(n_orders):
                await api.call("order.place", MARKET_BUY)
                got: list[str] = []
                while len(got) < 4:
                    got.append(name(json.loads((await asyncio.wait_for(user.receive(), 5)).data)))
                out.append(got)
            return out


@pytest.mark.parametrize("order", list(EXPECTED))
async def test_each_documented_order(order: str, http: aiohttp.ClientSession) -> None:
    sim = await started(event_order=order)
    try:
        assert await fill_events(sim, http) == [EXPECTED[order]]
    finally:
        await sim.stop()


async def test_random_order_is_seeded_and_uses_every_order(http: aiohttp.ClientSession) -> None:
    seen = []
    for _ in range(2):
        sim = await started(event_order="random")
        try:
            seen.append(await fill_events(sim, http, 8))
        finally:
            await sim.stop()
    assert seen[0] == seen[1]  # same seed, same orders
    assert {tuple(x) for x in seen[0]} == {tuple(v) for v in EXPECTED.values()}


async def arrivals(sim: Sim, http: aiohttp.ClientSession, n_orders: int) -> list[str]:
    """What the client receives, in arrival order across its WS API and user-data connections."""
    seen: list[str] = []
    async with http.ws_connect(sim.ws_api_url) as ws:
        start = {"id": 0, "method": "userDataStream.start", "params": {"apiKey": DEMO_API_KEY}}
        await ws.send_str(json.dumps(start))
        key = json.loads((await ws.receive()).data)["result"]["listenKey"]
        async with http.ws_connect(f"{sim.stream_url}/private/ws/{key}") as user:

            async def read(sock: aiohttp.ClientWebSocketResponse) -> None:
                async for msg in sock:
                    body = json.loads(msg.data)
                    seen.append("REPLY" if "status" in body else name(body))

            readers = [asyncio.ensure_future(read(sock)) for sock in (ws, user)]
            for k in range(1, n_orders + 1):
                await ws.send_str(json.dumps({"id": k, "method": "order.place", "params": signed()}))
                async with asyncio.timeout(5):
                    while len(seen) < 5 * k:  # the reply and the fill's four events
                        await asyncio.sleep(0.005)
            for t in readers:
                t.cancel()
    return seen


def signed() -> dict:
    from simkit import hmac_sign, now_ms

    p = {**MARKET_BUY, "apiKey": DEMO_API_KEY, "timestamp": now_ms()}
    p["signature"] = hmac_sign("&".join(f"{k}={v}" for k, v in sorted(p.items())))
    return p


@pytest.mark.parametrize("reply", ["before", "after"])
async def test_reply_before_or_after_the_events(reply: str, http: aiohttp.ClientSession) -> None:
    sim = await started(reply_order=reply)
    try:
        seen = await arrivals(sim, http, 3)
    finally:
        await sim.stop()
    burst = ["REPLY", *EXPECTED["classic"]] if reply == "before" else [*EXPECTED["classic"], "REPLY"]
    assert seen == burst * 3


def test_random_reply_order_is_seeded() -> None:
    draws = [EventOrder("classic", "random", seed=3).reply_first() for _ in range(1)]
    order = EventOrder("classic", "random", seed=3)
    many = [order.reply_first() for _ in range(40)]
    assert many[:1] == draws and True in many and False in many
    with pytest.raises(ValueError):
        EventOrder("sometimes", "before")


async def test_event_order_changes_at_run_time(sim: Sim, http: aiohttp.ClientSession) -> None:
    from simkit import control

    _, body = await control(http, sim, "POST", "event_order", {"events": "trade-first", "reply": "after"})
    assert body == {"events": "trade-first", "reply": "after"}
    assert (await control(http, sim, "GET", "state"))[1]["market"]["eventOrder"] == "trade-first"
    assert await fill_events(sim, http) == [EXPECTED["trade-first"]]
    status, body = await control(http, sim, "POST", "event_order", {"events": "sometimes"})
    assert status == 400 and "events" in body["error"]
