"""The depth book (``--book depth``): finite levels, MARKET orders that walk them, LIMIT orders that
fill in pieces, IOC remainders that expire and FOK orders the book cannot fill."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from simkit import BTC_PRICE, WsApi, control, next_event

from traytrader.sim import DEMO_API_KEY, Sim, SimOptions, start_sim

REAL = Path(__file__).resolve().parents[1].joinpath("data/real")
BUY = {"symbol": "BTCUSDT", "side": "BUY", "newOrderRespType": "RESULT"}


@pytest.fixture
async def dsim() -> AsyncIterator[Sim]:
    s = await start_sim(SimOptions(seed=7, book="depth"))
    for sym, path in s.server.paths.items():
        price = BTC_PRICE if sym == "BTCUSDT" else path.price
        s.server.apply_price(sym, path.set(price), s.server.now_ms())
    yield s
    await s.stop()


@pytest.fixture
async def dapi(dsim: Sim, http: aiohttp.ClientSession) -> AsyncIterator[WsApi]:
    async with http.ws_connect(dsim.ws_api_url) as ws:
        yield WsApi(ws)


async def asks(api: WsApi, n: int = 20) -> list[tuple[Decimal, Decimal]]:
    r = await api.call("depth", {"symbol": "BTCUSDT", "limit": n}, sign=False)
    return [(Decimal(p), Decimal(q)) for p, q in r["result"]["asks"]]


async def trades_of(ws: aiohttp.ClientWebSocketResponse, order_id: int) -> list[dict]:
    out = []
    while True:
        ev = await next_event(ws, "ORDER_TRADE_UPDATE", where=lambda e: e["o"]["i"] == order_id)
        if ev["o"]["x"] == "TRADE":
            out.append(ev["o"])
        if ev["o"]["X"] not in ("NEW", "PARTIALLY_FILLED"):
            return out


async def user_stream(api: WsApi, http: aiohttp.ClientSession, sim: Sim) -> aiohttp.ClientWebSocketResponse:
    r = await api.call("userDataStream.start", {"apiKey": DEMO_API_KEY}, sign=False)
    key = r["result"]["listenKey"]
    return await http.ws_connect(f"{sim.stream_url}/private/ws/{key}")


async def test_book_is_finite_and_shaped_like_the_real_one(dapi: WsApi) -> None:
    r = (await dapi.call("depth", {"symbol": "BTCUSDT", "limit": 20}, sign=False))["result"]
    bids = [(Decimal(p), Decimal(q)) for p, q in r["bids"]]
    ask = [(Decimal(p), Decimal(q)) for p, q in r["asks"]]
    assert bids[0][0] == BTC_PRICE and ask[0][0] == BTC_PRICE + Decimal("0.1")  # one-tick spread
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in ask] == sorted(p for p, _ in ask)
    assert all(q > 0 for _, q in bids + ask) and len({q for _, q in ask}) > 5  # finite, varied
    # The real samples' shape: the touch holds most of the near size (2.214 vs 0.042…; 2.149 vs 0.012…).
    capture = next((REAL / "market_stream").glob("rubytrade_fapi_btcusdt_combined_streams_*.jsonl"))
    real = json.loads(capture.read_text().splitlines()[4])["data"]
    assert Decimal(real["a"][0][1]) > 3 * max(Decimal(q) for _, q in real["a"][1:5])
    assert ask[0][1] > 3 * max(q for _, q in ask[1:5]) and bids[0][1] > 3 * max(q for _, q in bids[1:5])
    book = (await dapi.call("ticker.book", {"symbol": "BTCUSDT"}, sign=False))["result"]
    assert (Decimal(book["askQty"]), Decimal(book["bidQty"])) == (ask[0][1], bids[0][1])


async def test_market_order_walks_the_levels(dapi: WsApi, dsim: Sim, http) -> None:
    await control(http, dsim, "POST", "balance", {"balance": "1000000"})
    levels = (await asks(dapi))[:3]
    qty = sum(q for _, q in levels)
    async with await user_stream(dapi, http, dsim) as ws:
        r = await dapi.call("order.place", {**BUY, "type": "MARKET", "quantity": str(qty)})
        res = r["result"]
        fills = await trades_of(ws, res["orderId"])
    assert [(Decimal(f["L"]), Decimal(f["l"])) for f in fills] == levels  # one trade per level
    assert [f["X"] for f in fills] == ["PARTIALLY_FILLED", "PARTIALLY_FILLED", "FILLED"]
    avg = sum(p * q for p, q in levels) / qty
    assert res["status"] == "FILLED" and Decimal(res["executedQty"]) == qty
    assert abs(Decimal(res["avgPrice"]) - avg) < Decimal("0.01") and Decimal(res["avgPrice"]) > levels[0][0]
    after = await asks(dapi)
    assert after[0][0] > levels[2][0]  # what was taken stays taken until the price moves
    await control(http, dsim, "POST", "price", {"symbol": "BTCUSDT", "price": "65001.0"})
    moved = await asks(dapi)
    assert moved[0][0] == Decimal("65001.1") and moved[0][1] > Decimal("0.1")  # redrawn around the path


async def test_ioc_remainder_expires_and_fok_is_refused(dapi: WsApi, dsim: Sim, http) -> None:
    await control(http, dsim, "POST", "balance", {"balance": "1000000"})
    levels = (await asks(dapi))[:2]
    reachable = levels[0][1] + levels[1][1]
    price = str(levels[1][0])
    too_much = str(reachable + Decimal("0.5"))
    limit = {**BUY, "type": "LIMIT", "price": price, "quantity": too_much}
    fok = await dapi.call("order.place", {**limit, "timeInForce": "FOK", "newClientOrderId": "fok"})
    assert fok["error"]["code"] == -5021
    st = (await control(http, dsim, "GET", "state"))[1]
    assert not [o for o in st["orders"] if o["clientOrderId"] == "fok"]
    ioc = await dapi.call("order.place", {**limit, "timeInForce": "IOC"})
    assert ioc["result"]["status"] == "EXPIRED" and Decimal(ioc["result"]["executedQty"]) == reachable


async def test_marketable_gtc_remainder_rests(dapi: WsApi, dsim: Sim, http) -> None:
    await control(http, dsim, "POST", "balance", {"balance": "1000000"})
    levels = (await asks(dapi))[:1]
    qty = str(levels[0][1] + Decimal("0.010"))
    r = await dapi.call(
        "order.place",
        {**BUY, "type": "LIMIT", "timeInForce": "GTC", "price": str(levels[0][0]), "quantity": qty},
    )
    assert r["result"]["status"] == "PARTIALLY_FILLED" and Decimal(r["result"]["executedQty"]) == levels[0][1]
    q = await dapi.call("order.status", {"symbol": "BTCUSDT", "orderId": r["result"]["orderId"]})
    assert q["result"]["status"] == "PARTIALLY_FILLED"


async def test_resting_limit_fills_in_pieces(dapi: WsApi, dsim: Sim, http) -> None:
    async with await user_stream(dapi, http, dsim) as ws:
        limit = {**BUY, "type": "LIMIT", "timeInForce": "GTC", "price": "64990.0", "quantity": "0.100"}
        r = await dapi.call("order.place", limit)
        oid = r["result"]["orderId"]
        await control(http, dsim, "POST", "price", {"symbol": "BTCUSDT", "price": "64989.9"})  # ask = 64990.0
        piece = (await next_event(ws, "ORDER_TRADE_UPDATE", where=lambda e: e["o"]["x"] == "TRADE"))["o"]
        assert piece["X"] == "PARTIALLY_FILLED"
        assert Decimal("0.025") <= Decimal(piece["l"]) <= Decimal("0.075")
        assert piece["m"] is True and Decimal(piece["L"]) == Decimal("64990")
        await control(http, dsim, "POST", "price", {"symbol": "BTCUSDT", "price": "64950.0"})  # through it
        rest = (await next_event(ws, "ORDER_TRADE_UPDATE", where=lambda e: e["o"]["x"] == "TRADE"))["o"]
        assert rest["X"] == "FILLED" and Decimal(rest["z"]) == Decimal("0.1") and rest["i"] == oid
        assert Decimal(rest["l"]) + Decimal(piece["l"]) == Decimal("0.1")
