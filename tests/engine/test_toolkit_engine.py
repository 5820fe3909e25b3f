"""The toolkit commands inside the real engine against the simulator on loopback: breakeven, close
a part, add, risk-based sizing and take-profits, each read back from the exchange (``/sim/state``).
Prices are set through ``/sim/price``; every wait is on a condition with a timeout."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from engine_kit import EventLog, SimControl, hmac_credentials, make_config, our_algos, position

from traytrader.core.asl_toolkit import breakeven_price
from traytrader.core.models import AslSettings, PositionSide, Profile, TakeProfit
from traytrader.engine.api import Command, CommandDone, CommandKind, CommandRejected, Event, OrderFilled
from traytrader.engine.handle import Engine

D = Decimal


def run(engine: Engine, log: EventLog, kind: CommandKind, argument: str = "") -> Event:
    command = Command(kind, argument, source="test")
    mark = log.mark()
    engine.submit(command)
    return log.wait_for(lambda e: getattr(e, "command_id", 0) == command.id and getattr(e, "final", False),
                        after=mark)


def set_price(engine: Engine, log: EventLog, sim: SimControl, price: Decimal) -> None:
    """Move the simulator's price and wait until the engine has seen the mark."""
    sim.set_price("BTCUSDT", str(price))
    log.wait_until(lambda: engine.session is not None and engine.session.mark("BTCUSDT") == price, 10)


def stop_rows(sim: SimControl) -> list[dict]:
    return [o for o in our_algos(sim) if o["type"] in ("STOP_MARKET", "TRAILING_STOP_MARKET")]


def wait_stop(log: EventLog, sim: SimControl, predicate) -> dict:
    found: list[dict] = []

    def check() -> bool:
        rows = stop_rows(sim)
        if len(rows) == 1 and predicate(rows[0]):
            found.append(rows[0])
            return True
        return False

    log.wait_until(check, 10)
    return found[-1]


def test_breakeven_partial_close_and_add(sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    profile = Profile(name="btc", symbol="BTCUSDT", leverage=5, notional_usdt=D("600"),
                      add_fraction=D("0.5"))
    engine, log = run_engine(make_config(sim, cooldown_ms=0, profiles=(profile,)))
    fill = run(engine, log, CommandKind.BUY)
    assert isinstance(fill, OrderFilled)
    qty, entry = fill.quantity, fill.avg_price
    wait_stop(log, sim, lambda s: D(s["quantity"]) == qty)

    # Not yet beyond breakeven: refused, the stop stays.
    refused = run(engine, log, CommandKind.BREAKEVEN)
    assert isinstance(refused, CommandRejected) and "not yet above" in refused.text
    hard = wait_stop(log, sim, lambda s: D(s["triggerPrice"]) < entry)

    set_price(engine, log, sim, (entry * D("1.005")).quantize(D("0.1")))   # +0.5%: beyond, no tier
    done = run(engine, log, CommandKind.BREAKEVEN)
    assert isinstance(done, CommandDone), done.text
    level = breakeven_price(qty, entry, qty * entry * D("0.0005"), D("0.0005"), D("0.1"))
    stop = wait_stop(log, sim, lambda s: s["type"] == "STOP_MARKET" and D(s["triggerPrice"]) == level)
    assert D(stop["quantity"]) == qty and stop["clientAlgoId"].startswith("ttasl-b")
    assert hard["clientAlgoId"] in [o["clientAlgoId"] for o in our_algos(sim, "CANCELED")]
    again = run(engine, log, CommandKind.BREAKEVEN)   # the stop is already there: refused
    assert isinstance(again, CommandRejected) and "already" in again.text

    half = run(engine, log, CommandKind.CLOSE, "50%")
    assert isinstance(half, OrderFilled) and half.quantity == (qty / 2).quantize(D("0.001"), "ROUND_FLOOR")
    left = qty - half.quantity
    assert position(sim) == left
    # The stop follows the smaller position at the breakeven floor (never looser).
    stop = wait_stop(log, sim, lambda s: D(s["quantity"]) == left)
    assert D(stop["triggerPrice"]) >= level

    added = run(engine, log, CommandKind.ADD)
    assert isinstance(added, OrderFilled) and added.side.value == "BUY"
    assert added.quantity == (left * D("0.5")).quantize(D("0.001"), "ROUND_FLOOR")
    total = left + added.quantity
    assert position(sim) == total
    stop = wait_stop(log, sim, lambda s: D(s["quantity"]) == total)
    assert D(stop["triggerPrice"]) >= level   # re-averaged entry, the floor holds

    whole = run(engine, log, CommandKind.CLOSE, "100%")
    assert isinstance(whole, OrderFilled) and position(sim) == 0
    log.wait_until(lambda: not our_algos(sim), 10)   # flat: no stop of ours is left


def test_partial_close_refused_when_the_remainder_is_below_the_minimum(sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "40000")   # 90 USDT: 0.002 BTC; half would leave 40 USDT (below 50)
    profile = Profile(name="btc", symbol="BTCUSDT", leverage=5, notional_usdt=D("90"))
    engine, log = run_engine(make_config(sim, cooldown_ms=0, profiles=(profile,)))
    fill = run(engine, log, CommandKind.BUY)
    assert isinstance(fill, OrderFilled) and fill.quantity == D("0.002")
    refused = run(engine, log, CommandKind.CLOSE, "50%")
    assert isinstance(refused, CommandRejected)
    assert "minimum notional" in refused.text and "close the whole position instead" in refused.text
    assert position(sim) == fill.quantity
    bad = run(engine, log, CommandKind.CLOSE, "half")
    assert isinstance(bad, CommandRejected) and "not a percentage" in bad.text


def test_risk_sized_entry_and_take_profits_fire(sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    asl = dataclasses.replace(AslSettings(), take_profit=(TakeProfit(D("1"), D("0.5")),))
    profile = Profile(name="btc", symbol="BTCUSDT", leverage=5, risk_usdt=D("10"), asl=asl)
    engine, log = run_engine(make_config(sim, cooldown_ms=0, profiles=(profile,)))
    fill = run(engine, log, CommandKind.BUY)
    assert isinstance(fill, OrderFilled)
    # 10 USDT at a 2% hard stop: 500 USDT of notional, floored to the 0.001 step: the loss at the
    # hard stop is at most the risk, and one step more would exceed it.
    loss = fill.quantity * fill.avg_price * D("0.02")
    assert loss <= 10 < loss + D("0.002") * fill.avg_price * D("0.02")
    log.wait_until(lambda: any(o["type"] == "TAKE_PROFIT_MARKET" for o in our_algos(sim)), 10)
    (tp,) = [o for o in our_algos(sim) if o["type"] == "TAKE_PROFIT_MARKET"]
    assert tp["clientAlgoId"].startswith("ttasl-p") and tp["reduceOnly"] is True
    assert D(tp["quantity"]) == (fill.quantity / 2).quantize(D("0.001"), "ROUND_FLOOR")
    assert D(tp["triggerPrice"]) >= fill.avg_price * D("1.01")
    set_price(engine, log, sim, (fill.avg_price * D("1.012")).quantize(D("0.1")))
    left = fill.quantity - D(tp["quantity"])
    log.wait_until(lambda: position(sim) == left, 10)
    wait_stop(log, sim, lambda s: D(s["quantity"]) == left)   # the ladder follows the smaller position


def test_risk_pct_sizes_from_the_wallet_balance(sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    sim._request("POST", "/sim/balance", {"balance": "20000"})
    profile = Profile(name="btc", symbol="BTCUSDT", leverage=5, risk_pct=D("0.5"))
    engine, log = run_engine(make_config(sim, cooldown_ms=0, profiles=(profile,)))
    fill = run(engine, log, CommandKind.BUY)
    assert isinstance(fill, OrderFilled), fill.text
    # 0.5% of 20000 = 100 USDT of risk at the 2% hard stop: 5000 USDT, floored to the step.
    loss = fill.quantity * fill.avg_price * D("0.02")
    assert loss <= 100 < loss + D("0.002") * fill.avg_price * D("0.02")


def test_take_profits_survive_a_restart_without_duplicates_and_go_with_the_position(
        sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    asl = dataclasses.replace(AslSettings(), take_profit=(TakeProfit(D("3"), D("0.5")),))
    profile = Profile(name="btc", symbol="BTCUSDT", leverage=5, notional_usdt=D("600"), asl=asl)
    config = make_config(sim, cooldown_ms=0, profiles=(profile,))
    engine, log = run_engine(config)
    assert isinstance(run(engine, log, CommandKind.BUY), OrderFilled)
    log.wait_until(lambda: len([o for o in our_algos(sim) if o["type"] == "TAKE_PROFIT_MARKET"]) == 1, 10)
    (before,) = [o["clientAlgoId"] for o in our_algos(sim) if o["type"] == "TAKE_PROFIT_MARKET"]
    engine.stop(3.0)
    engine, log = run_engine(config)   # a restart: the take-profit is adopted, not placed again
    key = ("BTCUSDT", PositionSide.BOTH)

    def known() -> frozenset[str]:
        driver = engine.asl
        tp = getattr(driver, "take_profits", {}).get(key)
        return tp.known() if tp is not None else frozenset()

    log.wait_until(lambda: bool(known()), 10)   # recovered; a duplicate would be known (placing) now
    assert known() == {before}
    tps = [o["clientAlgoId"] for o in our_algos(sim) if o["type"] == "TAKE_PROFIT_MARKET"]
    assert tps == [before]
    flat = run(engine, log, CommandKind.FLATTEN)
    assert isinstance(flat, CommandDone) and position(sim) == 0
    log.wait_until(lambda: not our_algos(sim), 10)   # no stop, no take-profit left


@pytest.fixture
def market_sim():
    """The market-like simulator: a depth book (fills walk the levels, in several trades), event
    orders and replies in random order, a mark/last basis, market trades."""
    from traytrader.sim import SimThread
    from traytrader.sim.options import market_like

    thread = SimThread(market_like(port=0, seed=11, funding=False, liquidation=False)).start()
    try:
        yield SimControl(thread)
    finally:
        thread.stop()


def test_close_part_and_add_on_a_depth_book_keep_the_stop_on_the_position(market_sim: SimControl,
                                                                           journal_file) -> None:
    sim = market_sim
    profile = Profile(name="btc", symbol="BTCUSDT", leverage=5, notional_usdt=D("3000"),
                      add_fraction=D("0.5"))
    config = make_config(sim, cooldown_ms=0, profiles=(profile,))
    engine = Engine(config, hmac_credentials(), journal_path=journal_file)
    log = EventLog()
    engine.subscribe(log)
    engine.start()
    try:
        log.wait_ready()

        def covered() -> bool:
            amount = position(sim)
            rows = stop_rows(sim)
            return amount != 0 and len(rows) == 1 and D(rows[0]["quantity"]) == abs(amount)

        fill = run(engine, log, CommandKind.BUY)
        assert isinstance(fill, OrderFilled), fill.text
        log.wait_until(covered, 10)
        before = position(sim)
        half = run(engine, log, CommandKind.CLOSE, "50%")
        assert isinstance(half, OrderFilled), half.text
        assert position(sim) == before - half.quantity and half.quantity <= before / 2
        log.wait_until(covered, 10)   # the stop follows whatever the book filled
        before = position(sim)
        added = run(engine, log, CommandKind.ADD)
        assert isinstance(added, OrderFilled), added.text
        assert position(sim) == before + added.quantity
        log.wait_until(covered, 10)
        closed = run(engine, log, CommandKind.CLOSE)
        assert isinstance(closed, OrderFilled | CommandDone)
        log.wait_until(lambda: position(sim) == 0 and not our_algos(sim), 10)
    finally:
        engine.stop(2.0)


def test_hedge_mode_with_both_sides_open_close_answers_once_and_parts_are_refused(sim: SimControl,
                                                                                 run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    sim._request("POST", "/sim/position_mode", {"mode": "hedge"})
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    assert isinstance(run(engine, log, CommandKind.BUY), OrderFilled)
    assert isinstance(run(engine, log, CommandKind.SELL), OrderFilled)   # hedge mode: a short beside the long
    log.wait_until(lambda: len(engine.session.tracker.open_positions("BTCUSDT")) == 2)
    for kind, argument, doing in ((CommandKind.CLOSE, "50%", "closing 50%"), (CommandKind.ADD, "", "adding")):
        refused = run(engine, log, kind, argument)
        assert isinstance(refused, CommandRejected) and "both open (hedge mode)" in refused.text, refused.text
        assert doing in refused.text
    orders_before = len([o for o in sim.state()["orders"] if o.get("kind") == "order"])
    mark = log.mark()
    closed = run(engine, log, CommandKind.CLOSE)
    log.wait_until(lambda: not engine.session.tracker.open_positions("BTCUSDT"))
    finals = [e for e in log.events[mark:] if getattr(e, "final", False) and getattr(e, "command_id", 0)]
    assert finals == [closed]   # both sides closed, one answer telling both
    assert closed.text.startswith("Close BTCUSDT 1/2: ")
    first, second = closed.text.removeprefix("Close BTCUSDT 1/2: ").split(" 2/2: ")
    assert {first.split()[0], second.split()[0]} == {"Sold", "Bought"}
    assert len([o for o in sim.state()["orders"] if o.get("kind") == "order"]) == orders_before + 2
