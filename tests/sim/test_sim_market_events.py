"""Events a client must survive: funding, basis, margin call, liquidation, algo orders that expire,
are rejected or sit in TRIGGERING, and the market's own trades on the aggTrade stream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from simkit import BTC_PRICE, MARKET_BUY, STOP_SELL, WsApi, control, next_event

from traytrader.sim import DEMO_API_KEY, Sim, SimOptions, start_sim


async def started(**kw: object) -> Sim:
    s = await start_sim(SimOptions(seed=7, **kw))  # type: ignore[arg-type]
    for sym, path in s.server.paths.items():
        s.server.apply_price(sym, path.set(BTC_PRICE if sym == "BTCUSDT" else path.price), s.server.now_ms())
    return s


@pytest.fixture
async def msim() -> AsyncIterator[Sim]:
    s = await started(liquidation=True, market_trades=True, basis_bps=5.0)
    yield s
    await s.stop()


@pytest.fixture
async def mapi(msim: Sim, http: aiohttp.ClientSession) -> AsyncIterator[WsApi]:
    async with http.ws_connect(msim.ws_api_url) as ws:
        yield WsApi(ws)


async def user(api: WsApi, http: aiohttp.ClientSession, sim: Sim) -> aiohttp.ClientWebSocketResponse:
    r = await api.call("userDataStream.start", {"apiKey": DEMO_API_KEY}, sign=False)
    return await http.ws_connect(f"{sim.stream_url}/private/ws/{r['result']['listenKey']}")


async def test_funding_fee_on_demand(mapi: WsApi, msim: Sim, http) -> None:
    await mapi.call("order.place", MARKET_BUY)  # long 0.010
    before = msim.exchange.accounts[DEMO_API_KEY].wallet
    mark = msim.exchange.quotes["BTCUSDT"].mark
    async with await user(mapi, http, msim) as ws:
        _, body = await control(http, msim, "POST", "funding", {"symbol": "BTCUSDT", "rate": "0.001"})
        assert body == {"settled": 1}
        ev = await next_event(ws, "ACCOUNT_UPDATE", where=lambda e: e["a"]["m"] == "FUNDING_FEE")
    fee = -(Decimal("0.010") * mark * Decimal("0.001"))
    assert Decimal(ev["a"]["B"][0]["bc"]) == fee.quantize(Decimal("1e-8"))
    assert ev["a"]["P"] == []  # a crossed position: the balance only
    assert msim.exchange.accounts[DEMO_API_KEY].wallet == before + fee.quantize(Decimal("1e-8"))
    assert (await control(http, msim, "POST", "funding", {"rate": "huge"}))[0] == 400


async def test_funding_every_8h_of_simulated_time(http: aiohttp.ClientSession) -> None:
    sim = await started(funding=True, speed=8 * 3600 / 0.4)  # 8 h of simulated time = 0.4 s
    try:
        async with http.ws_connect(sim.ws_api_url) as raw:
            api = WsApi(raw)
            await api.call("order.place", MARKET_BUY)
            _, prem, _ = await rest_get(http, sim, "/fapi/v1/premiumIndex?symbol=BTCUSDT")
            assert 0 < prem["nextFundingTime"] - prem["time"] <= 400  # the next settlement, in sim time
            async with await user(api, http, sim) as ws:
                t0 = time.monotonic()
                for _ in range(2):
                    await next_event(ws, "ACCOUNT_UPDATE", where=lambda e: e["a"]["m"] == "FUNDING_FEE")
                assert 0.3 <= time.monotonic() - t0 <= 3
    finally:
        await sim.stop()


async def test_mark_index_last_differ_and_funding_follows(mapi: WsApi, msim: Sim, http) -> None:
    await control(http, msim, "POST", "step", {"symbol": "BTCUSDT", "n": 20})
    r = await mapi.call("ticker.price", {"symbol": "BTCUSDT"}, sign=False)
    last = Decimal(r["result"]["price"])
    q = msim.exchange
    status, prem, _ = await rest_get(http, msim, "/fapi/v1/premiumIndex?symbol=BTCUSDT")
    mark, index = Decimal(prem["markPrice"]), Decimal(prem["indexPrice"])
    assert status == 200 and mark != last and index != mark
    assert abs(mark - last) / last <= Decimal("0.0005") and abs(index - last) / last <= Decimal("0.0005")
    expected = max(Decimal("-0.003"), min(Decimal("0.003"), Decimal("0.0001") + (mark - index) / index))
    assert abs(Decimal(prem["lastFundingRate"]) - expected) < Decimal("1e-7")
    assert q.quotes["BTCUSDT"].mark == mark


async def rest_get(http: aiohttp.ClientSession, sim: Sim, path: str) -> tuple[int, dict, dict]:
    async with http.get(sim.rest_url + path) as r:
        return r.status, await r.json(), dict(r.headers)


async def test_margin_call_then_liquidation(mapi: WsApi, msim: Sim, http) -> None:
    await control(http, msim, "POST", "balance", {"balance": "100"})
    await mapi.call("order.place", {**MARKET_BUY, "quantity": "0.020"})
    async with await user(mapi, http, msim) as ws:
        await control(http, msim, "POST", "price", {"symbol": "BTCUSDT", "price": "60330", "mark": "60330"})
        call = await next_event(ws, "MARGIN_CALL")
        row = call["p"][0]
        assert (row["s"], row["pa"], row["mt"]) == ("BTCUSDT", "0.02", "CROSSED")
        assert Decimal(call["p"][0]["mm"]) >= Decimal("0.8") * Decimal(call["cw"])
        await control(http, msim, "POST", "price", {"symbol": "BTCUSDT", "price": "60000", "mark": "60000"})
        liq = (await next_event(ws, "ORDER_TRADE_UPDATE"))["o"]
    assert liq["c"].startswith("autoclose-")
    assert (liq["x"], liq["X"], liq["o"]) == ("CALCULATED", "FILLED", "LIQUIDATION")
    assert (liq["S"], Decimal(liq["z"]), Decimal(liq["L"])) == ("SELL", Decimal("0.02"), Decimal(60000))
    risk = await mapi.call("v2/account.position", {"symbol": "BTCUSDT"})
    assert all(Decimal(p["positionAmt"]) == 0 for p in risk["result"])
    assert msim.exchange.accounts[DEMO_API_KEY].wallet >= 0


async def test_algo_expired_rejected_and_held_in_triggering(mapi: WsApi, msim: Sim, http) -> None:
    await mapi.call("order.place", MARKET_BUY)
    async with await user(mapi, http, msim) as ws:
        a = (await mapi.call("algoOrder.place", {**STOP_SELL, "clientAlgoId": "exp"}))["result"]
        _, body = await control(http, msim, "POST", "fault", {"kind": "expire_algos", "algoId": a["algoId"]})
        assert body == {"kind": "expire_algos", "expired": 1}
        ev = await next_event(ws, "ALGO_UPDATE", where=lambda e: e["o"]["X"] != "NEW")
        assert (ev["o"]["caid"], ev["o"]["X"]) == ("exp", "EXPIRED")

        await mapi.call("algoOrder.place", {**STOP_SELL, "clientAlgoId": "rej", "triggerPrice": "64000.0"})
        await control(http, msim, "POST", "fault", {"kind": "algo_reject"})
        await control(http, msim, "POST", "price", {"symbol": "BTCUSDT", "price": "63900", "mark": "63900"})
        ev = await next_event(ws, "ALGO_UPDATE", where=lambda e: e["o"]["X"] == "REJECTED")
        assert ev["o"]["caid"] == "rej" and ev["o"]["rm"]

        await mapi.call("algoOrder.place", {**STOP_SELL, "clientAlgoId": "hold", "triggerPrice": "63000.0"})
        await control(http, msim, "POST", "fault", {"kind": "algo_hold", "ms": 300})
        t0 = time.monotonic()
        await control(http, msim, "POST", "price", {"symbol": "BTCUSDT", "price": "62900", "mark": "62900"})
        def held(e: dict) -> bool:
            return e["o"]["caid"] == "hold" and e["o"]["X"] != "NEW"

        ev = await next_event(ws, "ALGO_UPDATE", where=held)
        assert ev["o"]["X"] == "TRIGGERING"
        st = (await control(http, msim, "GET", "state"))[1]
        assert [o["status"] for o in st["orders"] if o.get("clientAlgoId") == "hold"] == ["TRIGGERING"]
        ev = await next_event(ws, "ALGO_UPDATE", where=held)
        assert ev["o"]["X"] == "TRIGGERED" and time.monotonic() - t0 >= 0.29


async def test_aggtrade_carries_the_market_trades(mapi: WsApi, msim: Sim, http) -> None:
    async with http.ws_connect(f"{msim.stream_url}/market/ws/btcusdt@aggTrade") as ws:
        await control(http, msim, "POST", "price", {"symbol": "BTCUSDT", "price": "64990"})
        down = await next_event(ws, "aggTrade")
        await control(http, msim, "POST", "price", {"symbol": "BTCUSDT", "price": "65010"})
        up = await next_event(ws, "aggTrade")
    assert (down["p"], down["m"]) == ("64990.00", True) and (up["p"], up["m"]) == ("65010.00", False)
    assert Decimal(down["q"]) > 0 and up["a"] > down["a"]


async def test_market_events_switch_at_run_time(api: WsApi, sim: Sim, http) -> None:
    """The plain test simulator (all off) gets liquidation and a basis at run time."""
    _, body = await control(http, sim, "POST", "market", {"liquidation": True, "basisBps": 3})
    assert body["liquidation"] is True and body["basisBps"] == 3.0 and body["funding"] is False
    await control(http, sim, "POST", "balance", {"balance": "100"})
    await api.call("order.place", {**MARKET_BUY, "quantity": "0.020"})
    await control(http, sim, "POST", "price", {"symbol": "BTCUSDT", "price": "60000", "mark": "60000"})
    risk = await api.call("v2/account.position", {"symbol": "BTCUSDT"})
    assert all(Decimal(p["positionAmt"]) == 0 for p in risk["result"])  # liquidated
    assert (await control(http, sim, "POST", "market", {"funding": "yes"}))[0] == 400
