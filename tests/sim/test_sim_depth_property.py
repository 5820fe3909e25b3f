"""Property: with the depth book, any event order and funding, the user-data events a client receives
add up to the exchange's own state. Whatever the orders, the book and the price path did, a client
that sums the stream's fills has the exchange's position, wallet and each order's filled quantity and
average price. The pure exchange is driven directly: no I/O, so hundreds of sequences run in seconds."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from traytrader.sim import DEMO_API_KEY
from traytrader.sim.accounts import load_accounts
from traytrader.sim.errors import SimError
from traytrader.sim.event_order import EventOrder
from traytrader.sim.exchange import Exchange
from traytrader.sim.market import Market

MARKET = Market.load()
TICK = Decimal("0.1")

step = st.one_of(
    st.tuples(st.just("market"), st.sampled_from(["BUY", "SELL"]), st.integers(1, 4000)),
    st.tuples(st.just("limit"), st.sampled_from(["BUY", "SELL"]), st.integers(1, 3000),
              st.integers(-20, 20), st.sampled_from(["GTC", "IOC", "FOK"])),
    st.tuples(st.just("move"), st.integers(-30, 30)),
    st.tuples(st.just("funding"), st.integers(-30, 30)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(step, min_size=1, max_size=25), st.integers(0, 10_000))
def test_the_stream_adds_up_to_the_exchange(steps: list[tuple], seed: int) -> None:
    ex = Exchange(MARKET, load_accounts(None), 0, seed=seed, book="depth",
                  event_order=EventOrder("random", "random", seed))
    ex.accounts[DEMO_API_KEY].wallet = Decimal(10_000_000)
    start_wallet = ex.accounts[DEMO_API_KEY].wallet
    last, now = Decimal("65000.0"), 1
    ex.set_quote("BTCUSDT", last, now)
    for s in steps:
        now += 1000
        p = {"symbol": "BTCUSDT", "side": s[1] if len(s) > 2 else "BUY", "newOrderRespType": "RESULT"}
        try:
            if s[0] == "market":
                p.update(type="MARKET", quantity=str(Decimal(s[2]) / 1000))
                ex.place_order(DEMO_API_KEY, p, now)
            elif s[0] == "limit":
                price = last + (TICK if s[1] == "BUY" else 0) + s[3] * TICK
                p.update(type="LIMIT", timeInForce=s[4], quantity=str(Decimal(s[2]) / 1000), price=str(price))
                ex.place_order(DEMO_API_KEY, p, now)
            elif s[0] == "move":
                last += s[1] * TICK
                ex.set_quote("BTCUSDT", last, now)
            else:
                ex.settle_funding(now, "BTCUSDT", Decimal(s[1]) / 100_000)
        except SimError:
            pass  # refused orders (margin, FOK, percent price) leave no trace: checked below

    amount, wallet = Decimal(0), start_wallet
    filled: dict[int, Decimal] = {}
    quote: dict[int, Decimal] = {}
    for api_key, ev in ex.outbox:
        assert api_key == DEMO_API_KEY
        if ev["e"] == "ORDER_TRADE_UPDATE" and ev["o"]["x"] == "TRADE":
            o = ev["o"]
            qty, price = Decimal(o["l"]), Decimal(o["L"])
            amount += qty if o["S"] == "BUY" else -qty
            wallet += Decimal(o["rp"]) - Decimal(o["n"])
            filled[o["i"]] = filled.get(o["i"], Decimal(0)) + qty
            quote[o["i"]] = quote.get(o["i"], Decimal(0)) + qty * price
            assert Decimal(o["z"]) == filled[o["i"]] <= Decimal(o["q"])
            assert (o["X"] == "FILLED") == (filled[o["i"]] == Decimal(o["q"]))
        elif ev["e"] == "ACCOUNT_UPDATE" and ev["a"]["m"] == "FUNDING_FEE":
            wallet += Decimal(ev["a"]["B"][0]["bc"])
    acct = ex.accounts[DEMO_API_KEY]
    pos = acct.position("BTCUSDT", "BOTH")
    assert amount == pos.amount
    assert abs(wallet - acct.wallet) < Decimal("1e-6")
    for oid, qty in filled.items():
        order = ex.orders[oid]
        assert order.executed == qty and abs(order.avg_price - quote[oid] / qty) < Decimal("1e-8")
    bids, asks = ex.depth("BTCUSDT", 5)
    assert not bids or not asks or bids[0][0] < asks[0][0]
