"""The reads a real client makes, checked against what happened on the simulator: candles against the
replayed CSV and the prices set, tickers against the trades, income against the wallet, the
documented weights, batch orders and the countdown, the depth streams against the REST book, and the
number formats of the live captures."""

from __future__ import annotations

import asyncio
import csv
import json
import re
from decimal import Decimal
from pathlib import Path

import aiohttp
from simkit import LIMIT_BUY, MARKET_BUY, Rest, WsApi, control, next_event

from traytrader.sim import Sim, SimOptions, start_sim
from traytrader.sim.endpoints import REST_ROUTES

KLINES_CSV = Path(__file__).resolve().parents[1].joinpath(
    "data/real/klines/binance_usdm_btcusdt_1m_2025-05-08T12_to_2025-05-09T12.csv"
)
BTC = {"symbol": "BTCUSDT"}


async def fill_events(ws: aiohttp.ClientWebSocketResponse, order_id: int) -> dict[str, dict]:
    """Order ``order_id``'s first fill, by type ("TRADE" = its ORDER_TRADE_UPDATE x=TRADE), in
    whatever order the events come (Binance's order varies); ACCOUNT_UPDATE is the newest seen."""
    got: dict[str, dict] = {}
    while not {"TRADE", "TRADE_LITE", "ACCOUNT_UPDATE"} <= set(got):
        ev = json.loads((await ws.receive(timeout=5)).data)
        if ev["e"] == "ACCOUNT_UPDATE":
            got["ACCOUNT_UPDATE"] = ev
        elif ev["e"] == "TRADE_LITE" and ev["i"] == order_id:
            got.setdefault("TRADE_LITE", ev)
        elif ev["e"] == "ORDER_TRADE_UPDATE" and ev["o"]["x"] == "TRADE" and ev["o"]["i"] == order_id:
            got.setdefault("TRADE", ev)
    return got


async def test_replayed_klines_are_the_csv_candles() -> None:
    rows = list(csv.reader(KLINES_CSV.open()))[1:5]
    sim = await start_sim(SimOptions(seed=1, prices_csv=str(KLINES_CSV)))
    try:
        async with aiohttp.ClientSession() as http:
            await control(http, sim, "POST", "step", {"symbol": "BTCUSDT", "n": 9})  # three whole candles
            rest = Rest(http, sim.rest_url)
            _, got, _ = await rest.call("GET", "/fapi/v1/klines", {**BTC, "interval": "1m"}, signed=False)
            _, three, _ = await rest.call("GET", "/fapi/v1/klines", {**BTC, "interval": "3m"}, signed=False)
    finally:
        await sim.stop()
    assert len(got) == 4  # three done, the fourth just opened
    for row, want in zip(got[:3], rows[:3], strict=True):
        assert [Decimal(x) for x in row[1:6]] == [Decimal(x) for x in want[1:6]]
    assert [r[0] - got[0][0] for r in got] == [0, 60_000, 120_000, 180_000]  # --speed 1: wall-clock minutes
    assert Decimal(got[3][1]) == Decimal(rows[3][1])
    merged = three[0]
    assert Decimal(merged[2]) == max(Decimal(r[2]) for r in rows[:3])
    assert Decimal(merged[3]) == min(Decimal(r[3]) for r in rows[:3])
    assert Decimal(merged[5]) == sum(Decimal(r[5]) for r in rows[:3]) and merged[6] - merged[0] == 179_999


async def test_kline_stream_closes_each_candle_with_its_final_state() -> None:
    first = list(csv.reader(KLINES_CSV.open()))[1]
    sim = await start_sim(SimOptions(seed=1, prices_csv=str(KLINES_CSV)))
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(
            f"{sim.stream_url}/market/ws/btcusdt@kline_1m"
        ) as ws:
            await control(http, sim, "POST", "step", {"symbol": "BTCUSDT", "n": 1})
            await next_event(ws, "kline")  # the stream knows the first candle
            await control(http, sim, "POST", "step", {"symbol": "BTCUSDT", "n": 2})  # ...which now ends
            closed = (await next_event(ws, "kline", where=lambda e: e["k"]["x"]))["k"]
    finally:
        await sim.stop()
    assert [Decimal(closed[k]) for k in ("o", "h", "l", "c", "v")] == [Decimal(x) for x in first[1:6]]


async def test_candles_and_24h_ticker_follow_prices_and_trades(sim: Sim, http, rest: Rest) -> None:
    for price in ("65100.0", "64900.0", "65000.0"):
        await control(http, sim, "POST", "price", {"symbol": "BTCUSDT", "price": price})
    await rest.call("POST", "/fapi/v1/order", MARKET_BUY)
    _, t, _ = await rest.call("GET", "/fapi/v1/ticker/24hr", BTC, signed=False)
    # the day opened at the start price (76915.00) before the fixture froze BTC at 65000
    assert (t["openPrice"], t["highPrice"], t["lowPrice"], t["lastPrice"]) == (
        "76915.00", "76915.00", "64900.00", "65000.00"
    )
    assert t["priceChange"] == "-11915.00" and t["priceChangePercent"] == "-15.491"
    # checked against the trades, not exact counts: the market may trade beside us
    _, trades, _ = await rest.call("GET", "/fapi/v1/trades", BTC, signed=False)
    _, mine, _ = await rest.call("GET", "/fapi/v1/userTrades", BTC)
    assert {m["id"] for m in mine} <= {x["id"] for x in trades}
    assert sum(Decimal(m["qty"]) for m in mine) == Decimal("0.010")
    volume = sum(Decimal(x["qty"]) for x in trades)
    assert (t["count"], Decimal(t["volume"]), t["firstId"], t["lastId"]) == (
        len(trades), volume, trades[0]["id"], trades[-1]["id"]
    )
    _, k, _ = await rest.call("GET", "/fapi/v1/klines", {**BTC, "interval": "1m", "limit": 1}, signed=False)
    assert k[0][4] == "65000.00" and Decimal(k[0][5]) == volume and k[0][8] == len(trades)
    taker_buys = sum(Decimal(x["qty"]) for x in trades if not x["isBuyerMaker"])
    assert Decimal(k[0][9]) == taker_buys >= Decimal("0.010")


async def test_income_and_user_trades_add_up_to_the_wallet(sim: Sim, http, rest: Rest) -> None:
    start = Decimal((await control(http, sim, "GET", "state"))[1]["accounts"][0]["walletBalance"])
    await rest.call("POST", "/fapi/v1/order", {**MARKET_BUY, "quantity": "0.020"})
    await control(http, sim, "POST", "price", {"symbol": "BTCUSDT", "price": "64000.0"})
    await rest.call("POST", "/fapi/v1/order", {**MARKET_BUY, "side": "SELL", "quantity": "0.020"})
    wallet = Decimal((await control(http, sim, "GET", "state"))[1]["accounts"][0]["walletBalance"])
    _, income, _ = await rest.call("GET", "/fapi/v1/income")
    assert sum(Decimal(r["income"]) for r in income) == wallet - start
    assert {r["incomeType"] for r in income} == {"COMMISSION", "REALIZED_PNL"}
    _, fills, _ = await rest.call("GET", "/fapi/v1/userTrades", BTC)
    assert fills[0]["side"] == "BUY" and fills[-1]["side"] == "SELL"
    assert sum(Decimal(f["realizedPnl"]) for f in fills) < 0
    assert sum(Decimal(f["commission"]) for f in fills) == -sum(
        Decimal(r["income"]) for r in income if r["incomeType"] == "COMMISSION"
    )


async def test_documented_weights(rest: Rest) -> None:
    async def weight(path: str, params: dict) -> int:
        before = int((await rest.call("GET", "/fapi/v1/time", signed=False))[2]["X-MBX-USED-WEIGHT-1M"])
        _, _, headers = await rest.call("GET", path, params, signed=False)
        return int(headers["X-MBX-USED-WEIGHT-1M"]) - before

    assert await weight("/fapi/v1/depth", {**BTC, "limit": 5}) == 2
    assert await weight("/fapi/v1/depth", {**BTC, "limit": 100}) == 5
    assert await weight("/fapi/v1/depth", {**BTC, "limit": 1000}) == 20
    assert await weight("/fapi/v1/premiumIndex", BTC) == 1
    assert await weight("/fapi/v1/premiumIndex", {}) == 10
    assert await weight("/fapi/v1/klines", {**BTC, "interval": "1m", "limit": 1000}) == 5
    assert await weight("/fapi/v1/ticker/24hr", {}) == 40
    assert await weight("/fapi/v1/aggTrades", BTC) == 20


async def test_batch_orders_and_countdown_cancel_all(rest: Rest) -> None:
    six = {"batchOrders": json.dumps([LIMIT_BUY] * 6)}
    status, body, _ = await rest.call("POST", "/fapi/v1/batchOrders", six)
    assert status == 400 and body["code"] == -1130
    before = int((await rest.call("GET", "/fapi/v1/openOrders", BTC))[2].get("X-MBX-ORDER-COUNT-10S") or 0)
    _, placed, headers = await rest.call("POST", "/fapi/v1/batchOrders", {"batchOrders": json.dumps(
        [LIMIT_BUY, {**LIMIT_BUY, "quantity": "0"}, {**LIMIT_BUY, "symbol": "ETHUSDT", "price": "2000.00"}])})
    assert ["orderId" in p for p in placed] == [True, False, True] and placed[1]["code"] < 0
    assert int(headers["X-MBX-ORDER-COUNT-10S"]) - before == 3  # every order counts, refused ones too
    await rest.call("POST", "/fapi/v1/countdownCancelAll", {**BTC, "countdownTime": 100})
    await rest.call("POST", "/fapi/v1/countdownCancelAll", {**BTC, "countdownTime": 0})  # disarmed
    eth = {"symbol": "ETHUSDT", "countdownTime": 100}
    _, armed, _ = await rest.call("POST", "/fapi/v1/countdownCancelAll", eth)
    assert armed == {"symbol": "ETHUSDT", "countdownTime": "100"}

    async def eth_open() -> int:
        return len((await rest.call("GET", "/fapi/v1/openOrders", {"symbol": "ETHUSDT"}))[1])

    deadline = asyncio.get_running_loop().time() + 5
    while await eth_open():
        assert asyncio.get_running_loop().time() < deadline, "the countdown never fired"
        await asyncio.sleep(0.02)
    assert len((await rest.call("GET", "/fapi/v1/openOrders", BTC))[1]) == 1  # BTC's was disarmed


async def test_depth_diff_stream_rebuilds_the_rest_book(sim: Sim, http, rest: Rest) -> None:
    async with http.ws_connect(f"{sim.stream_url}/public/ws/btcusdt@depth@100ms") as ws:
        book: dict[str, dict[str, str]] = {"b": {}, "a": {}}
        last_u = None
        for price in ("65010.0", "64990.0", "65003.0"):
            await control(http, sim, "POST", "price", {"symbol": "BTCUSDT", "price": price})
            target = sim.exchange.quotes["BTCUSDT"].update_id
            while last_u != target:
                ev = await next_event(ws, "depthUpdate")
                assert last_u is None or ev["pu"] == last_u  # each event chains on the previous one
                last_u = ev["u"]
                for side in ("b", "a"):
                    for p, q in ev[side]:
                        book[side].pop(p, None) if Decimal(q) == 0 else book[side].__setitem__(p, q)
    _, snap, _ = await rest.call("GET", "/fapi/v1/depth", {**BTC, "limit": 20}, signed=False)
    assert sorted(book["b"].items(), key=lambda x: -Decimal(x[0])) == [tuple(x) for x in snap["bids"]]
    assert sorted(book["a"].items(), key=lambda x: Decimal(x[0])) == [tuple(x) for x in snap["asks"]]


DECIMALS = re.compile(r"^-?\d+\.(\d+)$")


def places(text: str) -> int:
    m = DECIMALS.match(text)
    return len(m.group(1)) if m else 0


async def test_live_number_formats_and_modify_id(sim: Sim, http, rest: Rest, api: WsApi) -> None:
    """As captured live: ap 5 decimals, L at pricePrecision, n and rp 8 (or "0"), wb/up zero-stripped
    (see docs/sim.md, "Sources"), and M only for an amendment that carried modifyId."""
    key = (await rest.call("POST", "/fapi/v1/listenKey"))[1]["listenKey"]
    async with http.ws_connect(f"{sim.stream_url}/private/ws/{key}") as ws:
        placed = await api.call("order.place", {**MARKET_BUY, "quantity": "0.020"})
        got = await fill_events(ws, placed["result"]["orderId"])
        o, lite = got["TRADE"]["o"], got["TRADE_LITE"]
        assert (places(o["ap"]), places(o["L"]), places(o["n"]), o["rp"]) == (5, 2, 8, "0")
        assert (places(lite["L"]), places(lite["l"]), places(lite["q"])) == (2, 3, 3)
        await control(http, sim, "POST", "price", {"symbol": "BTCUSDT", "price": "64000.0"})
        placed = await api.call("order.place", {**MARKET_BUY, "side": "SELL", "quantity": "0.010"})
        got = await fill_events(ws, placed["result"]["orderId"])
        rp = got["TRADE"]["o"]["rp"]
        assert places(rp) == 8 and rp.startswith("-")
        acct = got["ACCOUNT_UPDATE"]["a"]
        for text in (acct["B"][0]["wb"], acct["B"][0]["cw"], acct["P"][0]["up"]):
            assert places(text) <= 8 and not ("." in text and text.endswith("0")), text
        rested = (await api.call("order.place", LIMIT_BUY))["result"]
        for modify_id, want in ((None, None), (7, "7")):
            extra = {} if modify_id is None else {"modifyId": modify_id}
            price = "63000.0" if modify_id is None else "62000.0"
            reply = await api.call("order.modify", {**BTC, "orderId": rested["orderId"], "side": "BUY",
                                                    "quantity": "0.010", "price": price, **extra})
            assert reply["result"].get("modifyId") == modify_id
            ev = await next_event(ws, "ORDER_TRADE_UPDATE", where=lambda e: e["o"]["x"] == "AMENDMENT")
            assert ev["o"].get("M") == want


PROBE = Path(__file__).resolve().parents[1].joinpath(
    "data/real/unattributed/unattributed_fapi_PRODUCTION_rest_probe_2026-09-15.jsonl"
)


async def test_refusals_match_the_live_probe(rest: Rest) -> None:
    """Every refusal in the production probe of 2026-09-15 on a route the simulator serves, replayed:
    same HTTP status, same body."""
    replayed = 0
    for line in PROBE.read_text().splitlines():
        probe = json.loads(line)
        method, target = probe["request"].split(" ", 1)
        path, _, query = target.partition("?")
        if probe["http_status"] == 200 or (method, path) not in REST_ROUTES:
            continue
        params = dict(pair.split("=", 1) for pair in query.split("&") if pair)
        status, body, _ = await rest.call(method, path, params, signed=False, key=None)
        assert (status, body) == (probe["http_status"], json.loads(probe["body"])), probe["request"]
        replayed += 1
    assert replayed == 4  # klines 1s and limit 2000, depth limit 3, ticker/24hr of an unknown symbol


def shape(value: object) -> object:
    """What a client's parser sees: key order, JSON types, and how many decimals each number has."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return f"decimal/{places(value)}"
    return type(value).__name__


async def test_answers_have_the_live_probe_shape(rest: Rest) -> None:
    """Each 200 answer of the 2026-09-15 production probe on a route the simulator serves, asked
    again (BTCUSDT has the production precisions here): same keys in the same order, same types,
    the same number of decimals in every number."""
    await rest.call("POST", "/fapi/v1/order", MARKET_BUY)  # so that trades and candles have volume
    compared = 0
    for line in PROBE.read_text().splitlines():
        probe = json.loads(line)
        method, target = probe["request"].split(" ", 1)
        path, _, query = target.partition("?")
        if probe["http_status"] != 200 or (method, path) not in REST_ROUTES:
            continue
        params = dict(pair.split("=", 1) for pair in query.split("&") if pair)
        _, body, _ = await rest.call(method, path, params, signed=False, key=None)
        assert shape(body) == shape(json.loads(probe["body"])), probe["request"]
        compared += 1
    assert compared == 8
