"""The exchange layer against the in-process simulator over loopback: WS-API correlation, errors
converted once, unknown outcomes, REST signing and headers, the clock, and the streams."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from traytrader.core.errors import ExchangeRejected, OutcomeUnknown, TransportError
from traytrader.core.frames import FrameBuilder
from traytrader.core.models import ApiCredentials, KeyType
from traytrader.core.signing import make_signer
from traytrader.exchange.clock import Clock
from traytrader.exchange.rest import RestClient
from traytrader.exchange.streams import StreamConnection, UserStream, market_stream_urls
from traytrader.exchange.ws_api import WsApi


def hmac() -> ApiCredentials:
    from traytrader.sim import DEMO_API_KEY, DEMO_SECRET

    return ApiCredentials("demo", KeyType.HMAC, DEMO_API_KEY, DEMO_SECRET)


def ed25519() -> ApiCredentials:
    from traytrader.sim import DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY_PEM

    return ApiCredentials("ed", KeyType.ED25519, DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY_PEM)


async def control(sim: Any, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, sim.rest_url + path, json=body) as response,
    ):
        text = await response.text()
        return json.loads(text) if text else None


async def open_ws(sim: Any, credentials: ApiCredentials, clock: Clock, timeout_s: float = 2.0) -> WsApi:
    frames = FrameBuilder(credentials, 5000)
    ws = WsApi(sim.ws_api_url, frames, now_ms=clock.now_ms, timeout_s=timeout_s)
    await ws.open()
    if credentials.key_type is KeyType.ED25519:
        await ws.logon(frames.logon_frame)
        frames.logged_on = True
    return ws


def rest_for(sim: Any, credentials: ApiCredentials, clock: Clock, **kwargs: Any) -> RestClient:
    return RestClient(
        sim.rest_url, credentials.api_key, make_signer(credentials), now_ms=clock.now_ms, **kwargs
    )


@pytest.mark.parametrize("credentials", [hmac, ed25519], ids=["hmac", "ed25519"])
async def test_ws_api_order_roundtrip_and_errors(sim: Any, credentials: Any) -> None:
    clock = Clock()
    limits: list[Any] = []
    ws = await open_ws(sim, credentials(), clock)
    ws.on_rate_limits = limits.append
    try:
        reply = await ws.call(
            "order.place",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "MARKET",
                "quantity": "0.002",
                "newClientOrderId": "tt-test-1",
                "newOrderRespType": "RESULT",
            },
        )
        assert reply.result["status"] == "FILLED" and reply.result["clientOrderId"] == "tt-test-1"
        assert reply.received_ns >= reply.wire_ns
        assert limits and any(item["rateLimitType"] == "ORDERS" for item in limits[-1])
        status = await ws.call("order.status", {"symbol": "BTCUSDT", "origClientOrderId": "tt-test-1"})
        assert status.result["status"] == "FILLED"
        with pytest.raises(ExchangeRejected) as info:
            await ws.call("order.status", {"symbol": "BTCUSDT", "origClientOrderId": "nope"})
        assert info.value.code == -2013 and info.value.msg == "Order does not exist."
        # many concurrent requests are correlated by id
        results = await asyncio.gather(
            *(
                ws.call("order.status", {"symbol": "BTCUSDT", "origClientOrderId": "tt-test-1"})
                for _ in range(20)
            )
        )
        assert {r.request_id for r in results} == {r.request_id for r in results} and len(results) == 20
    finally:
        await ws.close()


async def test_ws_api_unknown_outcomes(sim: Any) -> None:
    clock = Clock()
    ws = await open_ws(sim, hmac(), clock, timeout_s=0.3)
    try:
        await control(
            sim, "POST", "/sim/fault", {"kind": "delay", "method": "order.status", "count": 1, "ms": 800}
        )
        with pytest.raises(OutcomeUnknown):
            await ws.call("order.status", {"symbol": "BTCUSDT", "origClientOrderId": "x"})
        await control(
            sim, "POST", "/sim/fault", {"kind": "unknown_503", "method": "order.status", "count": 1}
        )
        with pytest.raises(OutcomeUnknown):
            await ws.call("order.status", {"symbol": "BTCUSDT", "origClientOrderId": "x"})
        await control(
            sim, "POST", "/sim/fault", {"kind": "drop_before_reply", "method": "order.status", "count": 1}
        )
        with pytest.raises(OutcomeUnknown):
            await ws.call("order.status", {"symbol": "BTCUSDT", "origClientOrderId": "x"})
        assert not ws.connected
        with pytest.raises(TransportError) as info:
            await ws.call("order.status", {"symbol": "BTCUSDT", "origClientOrderId": "x"})
        assert not isinstance(info.value, OutcomeUnknown)
    finally:
        await ws.close()


async def test_ws_api_connect_failure_is_transport_error() -> None:
    ws = WsApi("ws://127.0.0.1:9/ws-fapi/v1", FrameBuilder(hmac(), 5000), now_ms=Clock().now_ms)
    with pytest.raises(TransportError):
        await ws.open(open_timeout_s=1)


async def test_rest_signed_calls_headers_and_errors(sim: Any) -> None:
    clock = Clock()
    seen: list[Any] = []
    async with rest_for(
        sim, hmac(), clock, on_rate_limits=seen.append, limits={("REQUEST_WEIGHT", "MINUTE", 1): 2400}
    ) as rest:
        offset = await clock.sync(rest)
        assert abs(offset) < 1000 and clock.rtt_ms is not None
        mode = await rest.get("/fapi/v1/positionSide/dual", signed=True, keyed=True)
        assert mode == {"dualSidePosition": False}
        assert seen and seen[-1][0]["rateLimitType"] == "REQUEST_WEIGHT"
        with pytest.raises(ExchangeRejected) as info:
            await rest.post("/fapi/v1/marginType", {"symbol": "BTCUSDT", "marginType": "CROSSED"})
        assert info.value.code == -4046
        bad = RestClient(
            sim.rest_url,
            hmac().api_key,
            make_signer(ApiCredentials("x", KeyType.HMAC, hmac().api_key, "wrong")),
            now_ms=clock.now_ms,
        )
        with pytest.raises(ExchangeRejected) as info:
            await bad.get("/fapi/v1/positionSide/dual", signed=True, keyed=True)
        assert info.value.code == -1022
        await bad.close()


async def test_clock_follows_skew(sim: Any) -> None:
    clock = Clock()
    async with rest_for(sim, hmac(), clock) as rest:
        await clock.sync(rest)
        await control(sim, "POST", "/sim/fault", {"kind": "clock_skew", "ms": 3000})
        offset = await clock.sync(rest)
        assert 2500 < offset < 3500


async def test_market_and_user_streams(sim: Any) -> None:
    clock = Clock()
    ws = await open_ws(sim, hmac(), clock)
    market: list[dict[str, Any]] = []
    user: list[dict[str, Any]] = []
    got_mark, got_book, got_order = asyncio.Event(), asyncio.Event(), asyncio.Event()

    def on_market(message: dict[str, Any]) -> None:
        market.append(message)
        if message.get("e") == "markPriceUpdate":
            got_mark.set()
        if message.get("e") == "bookTicker":
            got_book.set()

    def on_user(message: dict[str, Any]) -> None:
        user.append(message)
        if message.get("e") == "ORDER_TRADE_UPDATE":
            got_order.set()

    async def start_key() -> str:
        return str((await ws.call_keyed("userDataStream.start")).result["listenKey"])

    async def ping_key(key: str) -> Any:
        return await ws.call_keyed("userDataStream.ping")

    streams = [
        StreamConnection(f"m{i}", url, on_market)
        for i, url in enumerate(market_stream_urls(sim.stream_url, ["BTCUSDT"]))
    ]
    user_stream = UserStream(sim.stream_url, start_key, ping_key, on_user, keepalive_s=0.2)
    try:
        for stream in streams:
            stream.start()
        user_stream.start()
        await asyncio.wait_for(user_stream.connection.connected.wait(), 5)
        await asyncio.wait_for(asyncio.gather(got_mark.wait(), got_book.wait()), 5)
        await ws.call(
            "order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"}
        )
        await asyncio.wait_for(got_order.wait(), 5)
        first_key = user_stream.listen_key
        await control(sim, "POST", "/sim/fault", {"kind": "expire_listen_key"})

        async def recreated() -> None:
            while not (user_stream.keys_created >= 2 and user_stream.connection.connected.is_set()):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(recreated(), 5)
        assert any(m.get("e") == "listenKeyExpired" for m in user)
        assert user_stream.listen_key is not None and first_key is not None
    finally:
        for stream in streams:
            await stream.stop()
        await user_stream.stop()
        await ws.close()
