"""Proof: two clients nobody here wrote talk to the simulator unchanged apart from the base URL.

The official ``binance-sdk-derivatives-trading-usds-futures`` (REST and WebSocket API, HMAC and
Ed25519 keys) and ``ccxt.binanceusdm`` (HMAC). Both are synchronous or own their loop, so the
simulator runs in a :class:`SimThread`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import (
    ConfigurationRestAPI,
    ConfigurationWebSocketAPI,
    ConfigurationWebSocketStreams,
    DerivativesTradingUsdsFutures,
)

from traytrader.sim import (
    DEMO_API_KEY,
    DEMO_ED25519_API_KEY,
    DEMO_ED25519_PRIVATE_KEY_PEM,
    DEMO_SECRET,
    SimOptions,
    SimThread,
)

KEYS = {
    "hmac": {"api_key": DEMO_API_KEY, "api_secret": DEMO_SECRET},
    "ed25519": {"api_key": DEMO_ED25519_API_KEY, "private_key": DEMO_ED25519_PRIVATE_KEY_PEM},
}


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(SimOptions(seed=3)) as s:
        yield s


def frozen_price(sim: SimThread) -> None:
    def freeze(s) -> None:
        path = s.server.paths["BTCUSDT"]
        s.server.apply_price("BTCUSDT", path.set(path.price), s.server.now_ms())

    sim.call(freeze)


@pytest.mark.parametrize("key", ["hmac", "ed25519"])
def test_official_sdk_rest(sim: SimThread, key: str) -> None:
    frozen_price(sim)
    rest = DerivativesTradingUsdsFutures(
        config_rest_api=ConfigurationRestAPI(base_path=sim.rest_url, **KEYS[key])
    ).rest_api
    placed = rest.new_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=0.01, price=60000.0, time_in_force="GTC"
    ).data()
    assert placed.status == "NEW" and placed.orig_qty == "0.010"
    canceled = rest.cancel_order(symbol="BTCUSDT", order_id=placed.order_id).data()
    assert canceled.status == "CANCELED"
    filled = rest.new_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity=0.01, new_order_resp_type="RESULT"
    ).data()
    assert filled.status == "FILLED"
    algo = rest.new_algo_order(
        algo_type="CONDITIONAL",
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        quantity=0.01,
        trigger_price=50000.0,
        reduce_only="true",
    ).data()
    assert algo.algo_status == "NEW" and algo.order_type == "STOP_MARKET"
    gone = rest.cancel_algo_order(algo_id=algo.algo_id).data()
    assert gone.algo_id == algo.algo_id and gone.msg == "success"
    positions = rest.position_information_v3(symbol="BTCUSDT").data()
    assert positions[0].position_amt == "0.01"


@pytest.mark.parametrize("key", ["hmac", "ed25519"])
async def test_official_sdk_websocket_api(sim: SimThread, key: str) -> None:
    frozen_price(sim)
    client = DerivativesTradingUsdsFutures(
        config_ws_api=ConfigurationWebSocketAPI(stream_url=sim.ws_api_url, **KEYS[key])
    )
    conn = await client.websocket_api.create_connection()
    try:
        placed = await result(conn.new_order(symbol="BTCUSDT", side="SELL", type="LIMIT", quantity=0.01,
                                             price=80000.0, time_in_force="GTC"))
        assert placed.status == "NEW"
        canceled = await result(conn.cancel_order(symbol="BTCUSDT", order_id=placed.order_id))
        assert canceled.status == "CANCELED"
        filled = await result(conn.new_order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity=0.02,
                                             new_order_resp_type="RESULT"))
        assert filled.status == "FILLED" and filled.executed_qty == "0.020"
        algo = await result(conn.new_algo_order(algo_type="CONDITIONAL", symbol="BTCUSDT", side="BUY",
                                                type="TRAILING_STOP_MARKET", quantity=0.01, callback_rate=1.0,
                                                reduce_only="true"))
        assert algo.algo_status == "NEW"
        gone = await result(conn.cancel_algo_order(algo_id=algo.algo_id))
        assert gone.algo_id == algo.algo_id
        positions = await result(conn.position_information_v2(symbol="BTCUSDT"))
        assert positions[0].position_amt == "-0.02"
    finally:
        await conn.close_connection(close_session=True)


def test_ccxt_binanceusdm(sim: SimThread) -> None:
    frozen_price(sim)
    ex = ccxt.binanceusdm(
        {
            "apiKey": DEMO_API_KEY,
            "secret": DEMO_SECRET,
            "enableRateLimit": False,
            "options": {"fetchCurrencies": False, "adjustForTimeDifference": False},
        }
    )
    for name, url in list(ex.urls["api"].items()):  # only the base URL changes
        if isinstance(url, str) and url.startswith("https://fapi.binance.com"):
            ex.urls["api"][name] = url.replace("https://fapi.binance.com", sim.rest_url)
    markets = ex.load_markets()
    assert {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"} <= set(markets)
    assert markets["BTC/USDT:USDT"]["precision"]["price"] == 0.1
    order = ex.create_order("ETH/USDT:USDT", "limit", "buy", 0.01, 2000)
    assert order["status"] == "open"
    assert ex.cancel_order(order["id"], "ETH/USDT:USDT")["status"] == "canceled"
    filled = ex.create_order("ETH/USDT:USDT", "market", "buy", 0.01)
    assert filled["status"] == "closed" and filled["filled"] == 0.01
    positions = ex.fetch_positions(["ETH/USDT:USDT"])
    assert [(p["symbol"], p["contracts"], p["side"]) for p in positions] == [("ETH/USDT:USDT", 0.01, "long")]
    assert ex.fetch_balance()["USDT"]["total"] < 10000


def ccxt_client(sim: SimThread) -> ccxt.binanceusdm:
    ex = ccxt.binanceusdm(
        {
            "apiKey": DEMO_API_KEY,
            "secret": DEMO_SECRET,
            "enableRateLimit": False,
            "options": {"fetchCurrencies": False, "adjustForTimeDifference": False},
        }
    )
    for name, url in list(ex.urls["api"].items()):  # only the base URL changes
        if isinstance(url, str) and url.startswith("https://fapi.binance.com"):
            ex.urls["api"][name] = url.replace("https://fapi.binance.com", sim.rest_url)
    ex.load_markets()
    return ex


def set_price(sim: SimThread, symbol: str, price: str) -> None:
    def move(s) -> None:
        path = s.server.paths[symbol]
        s.server.apply_price(symbol, path.set(Decimal(price)), s.server.now_ms())

    sim.call(move)


def test_ccxt_reads(sim: SimThread) -> None:
    """The unified reads a ccxt user calls: tickers, candles, public and own trades, order history
    (plain and trigger), fees, funding, ledger and batch orders, each checked against what happened."""
    set_price(sim, "ETHUSDT", "2500")
    ex = ccxt_client(sim)
    eth = "ETH/USDT:USDT"
    bought = ex.create_order(eth, "market", "buy", 0.02)
    rested = ex.create_order(eth, "limit", "buy", 0.01, 2000)
    ex.cancel_order(rested["id"], eth)
    stop = ex.create_order(eth, "market", "sell", 0.01, params={"triggerPrice": 2400, "reduceOnly": True})
    set_price(sim, "ETHUSDT", "2390")  # the stop triggers and sells 0.01 at the touch

    # Checked against each other rather than exact counts: the market may trade beside us.
    trades = ex.fetch_trades(eth)
    volume = sum(t["amount"] for t in trades)
    ticker = ex.fetch_ticker(eth)
    assert ticker["last"] == 2390 and ticker["high"] >= 2500 and ticker["low"] <= 2390
    assert ticker["baseVolume"] == pytest.approx(volume) and volume >= 0.03
    assert set(ex.fetch_tickers()) == {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"}
    candles = ex.fetch_ohlcv(eth, "1m")
    assert candles[-1][4] == 2390 and sum(c[5] for c in candles) == pytest.approx(volume)
    mine = ex.fetch_my_trades(eth)
    public_ids = {i for t in trades for i in range(t["info"]["f"], t["info"]["l"] + 1)}  # aggTrades
    assert {int(t["id"]) for t in mine} <= public_ids
    assert sum(t["amount"] for t in mine if t["side"] == "buy") == pytest.approx(0.02)
    assert sum(t["amount"] for t in mine if t["side"] == "sell") == pytest.approx(0.01)
    assert mine[0]["order"] == bought["id"] and all(t["fee"]["cost"] > 0 for t in mine)
    orders = {o["id"]: o["status"] for o in ex.fetch_orders(eth)}
    assert orders[bought["id"]] == "closed" and orders[rested["id"]] == "canceled"
    assert rested["id"] not in {o["id"] for o in ex.fetch_closed_orders(eth)}
    triggered = ex.fetch_closed_orders(eth, params={"trigger": True})
    assert [(o["id"], o["triggerPrice"]) for o in triggered] == [(stop["id"], 2400)]
    assert [o["id"] for o in ex.fetch_orders(eth, params={"trigger": True})] == [stop["id"]]
    assert ex.fetch_trading_fee(eth)["taker"] == 0.0005
    assert ex.fetch_order_book(eth, 5)["bids"][0][0] == 2390
    ledger = ex.fetch_ledger()
    assert {e["type"] for e in ledger} == {"commission", "trade"}  # fees and the stop's realized loss
    two = ex.create_orders([{"symbol": eth, "type": "limit", "side": "buy", "amount": 0.01, "price": p}
                            for p in (2000, 2001)])
    assert [o["status"] for o in two] == ["open", "open"]
    assert ex.fetch_open_order(two[0]["id"], eth)["price"] == 2000


async def test_official_sdk_streams(sim: SimThread) -> None:
    """Not required by the proof, but the SDK's stream client parses our user data and mark price."""
    frozen_price(sim)
    rest = DerivativesTradingUsdsFutures(
        config_rest_api=ConfigurationRestAPI(base_path=sim.rest_url, **KEYS["hmac"])
    ).rest_api
    key = (await asyncio.to_thread(rest.start_user_data_stream)).data().listen_key
    client = DerivativesTradingUsdsFutures(
        config_ws_streams=ConfigurationWebSocketStreams(stream_url=sim.stream_url)
    )
    conn = await client.websocket_streams.create_connection()
    got: list[object] = []
    marks: list[object] = []
    try:
        (await conn.user_data(key)).on("message", got.append)
        (await conn.mark_price_stream(symbol="btcusdt", update_speed="1s")).on("message", marks.append)
        await wait_for(lambda: sim.call(lambda s: len(s.server.user_hub.conns)) == 1)
        await asyncio.to_thread(rest.new_order, symbol="BTCUSDT", side="BUY", type="MARKET", quantity=0.01)
        await wait_for(lambda: len(got) >= 4 and len(marks) >= 1)
        assert any(getattr(g, "oneof_schema_2_validator", None) is not None for g in got)  # AccountUpdate
        assert marks[0].s == "BTCUSDT"  # type: ignore[attr-defined]
    finally:
        await conn.close_connection()


async def result(call: Awaitable[Any]) -> Any:
    """The ``result`` of an SDK WebSocket API response (every call wraps it the same way)."""
    return (await call).data().result


async def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
