"""Market and user-data streams over real WebSockets, compared field by field with real captures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from simkit import WsApi, control, next_event

from traytrader.sim import DEMO_API_KEY, Sim

REAL = Path(__file__).resolve().parents[1].joinpath("data/real")


def sample(rel: str, line: int | None = None) -> dict:
    text = (REAL / rel).read_text()
    body = json.loads(text.splitlines()[line]) if line is not None else json.loads(text)
    return body.get("data", body)


async def listen_key(api: WsApi) -> str:
    return (await api.call("userDataStream.start", {"apiKey": DEMO_API_KEY}, sign=False))["result"][
        "listenKey"
    ]


async def test_user_data_events_match_real_payloads(
    api: WsApi, sim: Sim, http: aiohttp.ClientSession
) -> None:
    key = await listen_key(api)
    async with http.ws_connect(f"{sim.stream_url}/private/ws/{key}") as ws:
        await api.call(
            "order.place", {"symbol": "SOLUSDT", "side": "BUY", "type": "MARKET", "quantity": "1.00"}
        )
        rubytrade = "user_stream/rubytrade_fapi_solusdt_trade_lite_order_new_account_update_2026-02-23.jsonl"
        new = await next_event(ws, "ORDER_TRADE_UPDATE")
        assert list(new) == list(sample(rubytrade, 1)) and list(new["o"]) == list(sample(rubytrade, 1)["o"])
        assert (new["o"]["x"], new["o"]["X"], new["o"]["o"]) == ("NEW", "NEW", "MARKET")
        lite = await next_event(ws, "TRADE_LITE")
        assert list(lite) == list(sample(rubytrade, 0))
        acc = await next_event(ws, "ACCOUNT_UPDATE")
        real_acc = sample(rubytrade, 2)
        assert list(acc["a"]) == list(real_acc["a"]) and list(acc["a"]["P"][0]) == list(real_acc["a"]["P"][0])
        assert list(acc["a"]["B"][0]) == list(real_acc["a"]["B"][0])
        assert acc["a"]["P"][0]["pa"] == "1" and acc["a"]["m"] == "ORDER"
        trade = await next_event(ws, "ORDER_TRADE_UPDATE")
        assert (trade["o"]["x"], trade["o"]["X"], trade["o"]["N"]) == ("TRADE", "FILLED", "USDT")
        assert set(
            sample("user_stream/roq_fapi_order_trade_update_trade_filled_taker_xrpusdt.json")["o"]
        ) <= set(trade["o"])
        await api.call(
            "algoOrder.place",
            {
                "algoType": "CONDITIONAL",
                "symbol": "SOLUSDT",
                "side": "SELL",
                "type": "STOP_MARKET",
                "quantity": "1.00",
                "reduceOnly": "true",
                "triggerPrice": "70.00",
            },
        )
        algo = await next_event(ws, "ALGO_UPDATE")
        real_new = sample("unattributed/unattributed_annium_algo_update_dotusdt_2026-09.jsonl", 0)
        assert list(algo["o"]) == list(real_new["o"]) and algo["o"]["X"] == "NEW"
        await control(http, sim, "POST", "price", {"symbol": "SOLUSDT", "price": "69.50"})
        triggering = await next_event(ws, "ALGO_UPDATE")
        real_trig = sample("user_stream/nautilus_ws_futures_algo_update_triggering.json")
        assert set(real_trig["o"]) <= set(triggering["o"]) and triggering["o"]["X"] == "TRIGGERING"
        triggered = await next_event(ws, "ALGO_UPDATE")
        real_tgd = sample("user_stream/nautilus_ws_futures_algo_update_triggered.json")
        assert set(real_tgd["o"]) <= set(triggered["o"]) and triggered["o"]["ai"] != ""
        done = await next_event(ws, "ALGO_UPDATE", where=lambda e: e["o"]["X"] == "FINISHED")
        assert done["o"]["aq"] == "1" and done["o"]["ai"] == triggered["o"]["ai"]
        r = await api.call("account.status")  # the position is flat again
        assert r["result"]["totalPositionInitialMargin"] == "0.00000000"
        await (
            await http.post(
                f"{sim.rest_url}/fapi/v1/leverage?" + signed_query({"symbol": "SOLUSDT", "leverage": "5"}),
                headers={"X-MBX-APIKEY": DEMO_API_KEY},
            )
        ).release()
        cfg = await next_event(ws, "ACCOUNT_CONFIG_UPDATE")
        assert cfg["ac"] == {"s": "SOLUSDT", "l": 5}


def signed_query(params: dict) -> str:
    from urllib.parse import urlencode

    from simkit import hmac_sign, now_ms

    q = urlencode({**params, "timestamp": now_ms()})
    return q + "&signature=" + hmac_sign(q)


async def test_listen_key_expiry_and_unknown_key(api: WsApi, sim: Sim, http: aiohttp.ClientSession) -> None:
    key = await listen_key(api)
    async with http.ws_connect(f"{sim.stream_url}/private/ws?listenKey={key}") as ws:
        status, body = await control(http, sim, "POST", "fault", {"kind": "expire_listen_key"})
        assert status == 200 and body["expired"] == 1
        ev = await next_event(ws, "listenKeyExpired")
        assert ev == {"e": "listenKeyExpired", "E": ev["E"], "listenKey": key} and isinstance(ev["E"], str)
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    async with http.get(
        f"{sim.stream_url.replace('ws://', 'http://')}/private/ws/{key}",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    ) as r:
        assert r.status == 400 and (await r.json())["code"] == -1125


async def test_book_ticker_public_and_combined_subscribe(sim: Sim, http: aiohttp.ClientSession) -> None:
    async with (
        http.ws_connect(f"{sim.stream_url}/public/ws/btcusdt@bookTicker") as raw,
        http.ws_connect(f"{sim.stream_url}/public/stream") as comb,
    ):
        await comb.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 1}))
        assert json.loads((await comb.receive()).data) == {"result": None, "id": 1}
        await comb.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        assert json.loads((await comb.receive()).data) == {"result": ["ethusdt@bookTicker"], "id": 2}
        await control(http, sim, "POST", "price", {"symbol": "BTCUSDT", "price": "65432.1"})
        await control(http, sim, "POST", "price", {"symbol": "ETHUSDT", "price": "2500.00"})
        bt = await next_event(raw, "bookTicker")
        real = sample("market_stream/roq_fapi_book_ticker_btcusdt.json")
        assert set(bt) == set(real) and (bt["b"], bt["a"]) == ("65432.10", "65432.20")
        msg = json.loads((await asyncio.wait_for(comb.receive(), 5)).data)
        assert msg["stream"] == "ethusdt@bookTicker" and msg["data"]["b"] == "2500.00"
        await comb.send_str(json.dumps({"method": "UNSUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 3}))
        assert json.loads((await comb.receive()).data) == {"result": None, "id": 3}
        assert not sim.server.market_hub.wanted("ethusdt@bookTicker")


async def test_mark_price_and_agg_trade_on_market_only(
    api: WsApi, sim: Sim, http: aiohttp.ClientSession
) -> None:
    async with (
        http.ws_connect(f"{sim.stream_url}/market/stream?streams=btcusdt@markPrice@1s/btcusdt@aggTrade") as m,
        http.ws_connect(f"{sim.stream_url}/ws/btcusdt@markPrice@1s") as legacy,
    ):
        mp = await next_event(m, "markPriceUpdate", timeout=3)
        real = sample("market_stream/roq_fapi_mark_price_update_btcusdt.json")
        assert set(real) <= set(mp) and mp["p"] == "65000.00000000"
        await api.call(
            "order.place", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.002"}
        )
        agg = await next_event(m, "aggTrade")
        assert set(agg) == set(sample("market_stream/roq_fapi_agg_trade_btcusdt.json"))
        assert (agg["p"], agg["q"], agg["m"]) == ("65000.00", "0.002", True)
        # The legacy URL only serves the public group (after 2026-04-23): no markPrice there.
        assert not any(
            c.group == "legacy" for c in sim.server.market_hub.subs.get("btcusdt@markPrice@1s", ())
        )
        assert not legacy.closed


async def test_user_data_on_combined_private_stream(
    api: WsApi, sim: Sim, http: aiohttp.ClientSession
) -> None:
    key = await listen_key(api)
    async with http.ws_connect(f"{sim.stream_url}/private/stream") as ws:  # how the official SDK connects
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": [key], "id": 1}))
        assert json.loads((await ws.receive()).data) == {"result": None, "id": 1}
        await api.call(
            "order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"}
        )
        msg = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert msg["stream"] == key and msg["data"]["e"] == "ORDER_TRADE_UPDATE"
        await ws.send_str(json.dumps({"method": "UNSUBSCRIBE", "params": [key], "id": 2}))
        while (reply := json.loads((await asyncio.wait_for(ws.receive(), 5)).data)).get("id") != 2:
            assert reply["stream"] == key  # the rest of that order's events
        assert reply == {"result": None, "id": 2}
        assert key not in sim.server.user_hub.conns
    async with http.ws_connect(f"{sim.stream_url}/ws/{key}") as legacy:  # legacy raw form
        await api.call(
            "order.place", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.002"}
        )
        ev = await next_event(legacy, "ORDER_TRADE_UPDATE")
        assert ev["o"]["S"] == "SELL"
