"""Algo-order trigger rules and lifecycle on the pure exchange, driven by real BTCUSDT candles."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simkit import LIMIT_BUY, STOP_SELL

from traytrader.sim import DEMO_API_KEY
from traytrader.sim.accounts import demo_accounts
from traytrader.sim.errors import SimError
from traytrader.sim.exchange import Exchange
from traytrader.sim.market import Market
from traytrader.sim.prices import PricePath, load_candles

KLINES = Path(__file__).resolve().parents[1].joinpath(
    "data/real/klines/binance_usdm_btcusdt_1m_2025-05-21T16_to_2025-05-23T16.csv"
)
K = DEMO_API_KEY


def fresh(price: str = "65000") -> Exchange:
    ex = Exchange(Market.load(), demo_accounts(), 0)
    ex.set_quote("BTCUSDT", Decimal(price), 0)
    return ex


def events(ex: Exchange) -> list[dict]:
    out = [p for _, p in ex.outbox]
    ex.outbox.clear()
    return out


def kinds(evs: list[dict]) -> list[str]:
    out = []
    for e in evs:
        if e["e"] == "ALGO_UPDATE":
            out.append(f"ALGO:{e['o']['X']}" + (":ia" if e["o"]["ia"] else ""))
        elif e["e"] == "ORDER_TRADE_UPDATE":
            out.append(f"OTU:{e['o']['x']}")
        else:
            out.append(e["e"])
    return out


def buy(ex: Exchange, qty: str = "0.010", t: int = 0) -> None:
    ex.place_order(K, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": qty}, t)


def test_trailing_stop_on_real_candles_triggers_where_the_rule_says() -> None:
    candles = load_candles(KLINES)[:240]
    path = PricePath(Decimal(0), Decimal("0.1"), seed=0, candles=candles)
    ex = fresh(str(path.price))
    buy(ex)
    events(ex)
    start = path.price
    activate = (start * Decimal("1.003")).quantize(Decimal("0.1"))
    r = ex.place_algo(
        K,
        {
            "algoType": "CONDITIONAL",
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "TRAILING_STOP_MARKET",
            "quantity": "0.010",
            "reduceOnly": "true",
            "callbackRate": "0.5",
            "activatePrice": str(activate),
            "clientAlgoId": "trail-1",
        },
        1,
    )
    assert r["algoStatus"] == "NEW"
    assert kinds(events(ex)) == ["ALGO:NEW"]
    # The rule, computed independently from the path the exchange sees.
    highest, activated_at, trigger_at, seen = start, None, None, []
    for step in range(1, 3 * len(candles)):
        price = path.step(1)
        seen.append(price)
        highest = max(highest, price)
        if activated_at is None and highest >= activate:
            activated_at = step
        if activated_at is not None and price <= highest * Decimal("0.995"):
            trigger_at = step
            break
    assert activated_at is not None and trigger_at is not None and trigger_at > activated_at
    log: list[tuple[int, list[str]]] = []
    for step, price in enumerate(seen, 1):
        ex.set_quote("BTCUSDT", price, 1000 + step)
        evs = events(ex)
        if evs:
            log.append((step, kinds(evs)))
            if step == trigger_at:
                finished = evs[-1]
    assert log[0] == (activated_at, ["ALGO:NEW:ia"])
    assert log[1] == (
        trigger_at,
        [
            "ALGO:TRIGGERING:ia",
            "ALGO:TRIGGERED:ia",
            "OTU:NEW",
            "TRADE_LITE",
            "ACCOUNT_UPDATE",
            "OTU:TRADE",
            "ALGO:FINISHED:ia",
        ],
    )
    assert len(log) == 2
    o = finished["o"]
    assert (o["X"], o["aq"], o["act"], o["caid"]) == ("FINISHED", "0.01", "MARKET", "trail-1")
    assert Decimal(o["ap"]) == seen[trigger_at - 1]  # a SELL fills at the bid = the last price
    assert ex.accounts[K].positions[("BTCUSDT", "BOTH")].amount == 0


def test_buy_trailing_mirrors_and_default_activation_is_immediate() -> None:
    ex = fresh()
    ex.place_order(K, {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.010"}, 0)
    events(ex)
    ex.place_algo(
        K,
        {
            "algoType": "CONDITIONAL",
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "TRAILING_STOP_MARKET",
            "quantity": "0.010",
            "reduceOnly": "true",
            "callbackRate": "1",
        },
        1,
    )
    assert kinds(events(ex)) == ["ALGO:NEW", "ALGO:NEW:ia"]
    for p in ("64000", "63000", "63600"):  # lowest 63000; +1% = 63630 not reached yet
        ex.set_quote("BTCUSDT", Decimal(p), 2)
    assert not events(ex)
    ex.set_quote("BTCUSDT", Decimal("63630"), 3)
    assert kinds(events(ex))[-1] == "ALGO:FINISHED:ia"


def test_working_type_mark_vs_contract_price() -> None:
    ex = fresh()
    buy(ex)
    for wt, cid in (("MARK_PRICE", "mark"), ("CONTRACT_PRICE", "last")):
        ex.place_algo(
            K,
            {
                "algoType": "CONDITIONAL",
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_MARKET",
                "quantity": "0.005",
                "reduceOnly": "true",
                "triggerPrice": "64000.0",
                "workingType": wt,
                "clientAlgoId": cid,
            },
            1,
        )
    events(ex)
    ex.set_quote("BTCUSDT", Decimal("63900"), 2, mark=Decimal("64100"))  # last through, mark not
    fired = [e["o"]["caid"] for e in events(ex) if e["e"] == "ALGO_UPDATE" and e["o"]["X"] == "FINISHED"]
    assert fired == ["last"]
    ex.set_quote("BTCUSDT", Decimal("63900"), 3, mark=Decimal("64000"))
    fired = [e["o"]["caid"] for e in events(ex) if e["e"] == "ALGO_UPDATE" and e["o"]["X"] == "FINISHED"]
    assert fired == ["mark"]


def test_stop_limit_triggers_a_resting_limit_and_finishes_when_it_fills() -> None:
    ex = fresh()
    buy(ex)
    ex.place_algo(
        K,
        {
            "algoType": "CONDITIONAL",
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP",
            "quantity": "0.010",
            "reduceOnly": "true",
            "triggerPrice": "64000.0",
            "price": "63950.0",
            "timeInForce": "GTC",
        },
        1,
    )
    events(ex)
    ex.set_quote("BTCUSDT", Decimal("64000"), 2)  # SELL limit 63950 is marketable at bid 64000
    ks = kinds(events(ex))
    assert ks[:3] == ["ALGO:TRIGGERING", "ALGO:TRIGGERED", "OTU:NEW"] and ks[-1] == "ALGO:FINISHED"
    ex.place_algo(
        K,
        {
            "algoType": "CONDITIONAL",
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "TAKE_PROFIT",
            "quantity": "0.010",
            "triggerPrice": "63000.0",
            "price": "62000.0",
        },
        3,
    )
    events(ex)
    ex.set_quote("BTCUSDT", Decimal("63000"), 4)  # triggers; BUY 62000 rests below the ask
    evs = events(ex)
    assert kinds(evs) == ["ALGO:TRIGGERING", "ALGO:TRIGGERED", "OTU:NEW"]
    assert evs[1]["o"]["act"] == "LIMIT"
    ex.set_quote("BTCUSDT", Decimal("61999.9"), 5)
    ks = kinds(events(ex))
    assert ks == ["TRADE_LITE", "ACCOUNT_UPDATE", "OTU:TRADE", "ALGO:FINISHED"]


def test_close_position_and_rejection_without_position() -> None:
    ex = fresh()
    buy(ex, "0.030")
    ex.place_algo(
        K,
        {
            "algoType": "CONDITIONAL",
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "closePosition": "true",
            "triggerPrice": "64000.0",
        },
        1,
    )
    ex.place_algo(
        K,
        {**STOP_SELL, "reduceOnly": "true", "triggerPrice": "63000.0", "clientAlgoId": "late"},
        1,
    )
    events(ex)
    ex.set_quote("BTCUSDT", Decimal("64000"), 2)
    evs = events(ex)
    fill = next(e for e in evs if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "TRADE")
    assert fill["o"]["z"] == "0.03" and fill["o"]["cp"] is True and fill["o"]["ot"] == "STOP_MARKET"
    ex.set_quote("BTCUSDT", Decimal("63000"), 3)
    evs = events(ex)
    assert kinds(evs) == ["ALGO:TRIGGERING", "ALGO:REJECTED"]
    assert evs[-1]["o"]["rm"] == "Reduce Only reject" and evs[-1]["o"]["caid"] == "late"


def test_illegal_algo_transition_raises_and_changes_nothing() -> None:
    ex = fresh()
    r = ex.place_algo(K, STOP_SELL, 1)
    a = ex.algos[r["algoId"]]
    with pytest.raises(ValueError, match="illegal transition NEW -> FINISHED"):
        a.move("FINISHED", 2)
    assert a.status == "NEW"


def test_fees_pnl_and_wallet() -> None:
    ex = fresh()
    buy(ex, "0.100")  # at ask 65000.1, taker 0.05 %
    ex.set_quote("BTCUSDT", Decimal("66000"), 1)
    ex.place_order(
        K, {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.100"}, 2
    )  # at bid 66000
    acct = ex.accounts[K]
    open_fee = Decimal("6500.01") * Decimal("0.0005")
    close_fee = Decimal("6600.0") * Decimal("0.0005")
    realized = (Decimal("66000") - Decimal("65000.1")) * Decimal("0.1")
    assert acct.wallet == Decimal(10000) + realized - open_fee - close_fee
    assert acct.positions[("BTCUSDT", "BOTH")].realized == realized


def test_gtd_order_expires_when_due() -> None:
    ex = fresh()
    gtd = 1_000_000
    r = ex.place_order(K, {**LIMIT_BUY, "timeInForce": "GTD", "goodTillDate": gtd}, 0)
    events(ex)
    ex.expire_due(gtd - 1)
    assert not events(ex)
    ex.expire_due(gtd)
    assert kinds(events(ex)) == ["OTU:EXPIRED"] and ex.orders[r["orderId"]].status == "EXPIRED"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["BUY", "SELL"]), st.integers(1, 40), st.integers(-300, 300)),
        min_size=1,
        max_size=25,
    )
)
def test_wallet_and_position_bookkeeping_add_up(trades: list[tuple[str, int, int]]) -> None:
    """Any sequence of market fills: position = signed sum; wallet = start + realised - fees."""
    ex = fresh()
    amount = Decimal(0)
    for n, (side, lots, move) in enumerate(trades):
        ex.set_quote("BTCUSDT", Decimal(65000) + Decimal(move) / 10, n)
        qty = Decimal(lots) / 1000
        ex.place_order(K, {"symbol": "BTCUSDT", "side": side, "type": "MARKET", "quantity": str(qty)}, n)
        amount += qty if side == "BUY" else -qty
    acct = ex.accounts[K]
    pos = acct.positions[("BTCUSDT", "BOTH")]
    fills = [p for _, p in ex.outbox if p["e"] == "ORDER_TRADE_UPDATE" and p["o"]["x"] == "TRADE"]
    fees = sum((Decimal(f["o"]["n"]) for f in fills), Decimal(0))
    realized = sum((Decimal(f["o"]["rp"]) for f in fills), Decimal(0))
    assert pos.amount == amount
    assert acct.wallet == Decimal(10000) + realized - fees
    assert pos.realized == realized
    assert (pos.entry == 0) == (pos.amount == 0)


NEITHER = "Param '{}' or '{}' must be sent, but both were empty/null!"
MANDATORY = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."


@pytest.mark.parametrize(
    ("params", "code", "msg"),
    [
        ({"symbol": "BTCUSDT"}, -1102, NEITHER.format("orderId", "origClientOrderId")),
        ({}, -1102, NEITHER.format("orderId", "origClientOrderId")),        # named before the symbol
        ({"orderId": "x"}, -1102, MANDATORY.format("symbol")),             # the symbol before the id
        ({"orderId": "x", "symbol": "NOPE"}, -1121, "Invalid symbol."),
        ({"orderId": "x", "symbol": "BTCUSDT"}, -1102, MANDATORY.format("orderId")),
        ({"origClientOrderId": "nobody", "symbol": "BTCUSDT"}, -2013, "Order does not exist."),
    ],
)
def test_order_look_up_refusals_in_binance_order(params: dict, code: int, msg: str) -> None:
    with pytest.raises(SimError) as refused:
        fresh().query_order(K, params)
    assert (refused.value.code, refused.value.msg) == (code, msg)


@pytest.mark.parametrize(
    ("params", "code", "msg"),
    [
        ({}, -1102, NEITHER.format("algoId", "clientAlgoId")),
        ({"algoId": "x"}, -1102, MANDATORY.format("algoId")),
        ({"clientAlgoId": "nobody"}, -2013, "Order does not exist."),
    ],
)
def test_algo_look_up_refusals(params: dict, code: int, msg: str) -> None:
    with pytest.raises(SimError) as refused:
        fresh().query_algo(K, params)
    assert (refused.value.code, refused.value.msg) == (code, msg)


def test_look_up_by_id_or_client_id_finds_only_this_keys_order() -> None:
    ex = fresh()
    placed = ex.place_order(K, {**LIMIT_BUY, "newClientOrderId": "mine"}, 1)
    by_id = ex.query_order(K, {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])})
    by_client = ex.query_order(K, {"symbol": "BTCUSDT", "origClientOrderId": "mine"})
    assert by_id["orderId"] == by_client["orderId"] == placed["orderId"]
    other = next(key for key in ex.accounts if key != K)
    with pytest.raises(SimError) as refused:
        ex.query_order(other, {"symbol": "BTCUSDT", "origClientOrderId": "mine"})
    assert refused.value.code == -2013
    algo = ex.place_algo(K, {**STOP_SELL, "clientAlgoId": "stop"}, 2)
    assert ex.query_algo(K, {"clientAlgoId": "stop"})["algoId"] == algo["algoId"]
    assert ex.query_algo(K, {"algoId": algo["algoId"]})["clientAlgoId"] == "stop"
