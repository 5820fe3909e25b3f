"""The paths that broke the protection promise (issue 12), each as a user meets it, against the real
engine and the simulator: the exchange's own state is read back every time."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine_kit import EventLog, SimControl, hmac_credentials, make_config, our_algos, position

from traytrader.core.models import OrderType, Profile
from traytrader.engine.api import (
    Command,
    CommandDone,
    CommandKind,
    CommandRejected,
    OrderAccepted,
    OrderFilled,
    StopMoved,
    is_final_answer,
)
from traytrader.engine.handle import Engine

D = Decimal


def answer(engine: Engine, log: EventLog, kind: CommandKind, argument: str = "", timeout: float = 15) -> Any:
    command = Command(kind, argument, source="test")
    engine.submit(command)
    return log.wait_for(lambda e: is_final_answer(e, command.id), timeout)


def wait_exchange(condition: Callable[[], bool], timeout: float = 6.0) -> None:
    """Poll the simulator's state (the condition is on the exchange) until ``condition`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the exchange never reached the expected state"
        time.sleep(0.05)


def covered(sim: SimControl) -> bool:
    amount = position(sim)
    stops = our_algos(sim)
    side = "SELL" if amount > 0 else "BUY"
    return amount != 0 and any(o["side"] == side and D(o["quantity"]) == abs(amount) for o in stops)


def limit_profiles() -> tuple[Profile, ...]:
    return (Profile(name="lim", symbol="BTCUSDT", leverage=5, notional_usdt=D("200"),
                    order_type=OrderType.LIMIT, limit_offset_ticks=50),
            Profile(name="mkt", symbol="BTCUSDT", leverage=5, notional_usdt=D("200")))


def test_a_limit_entry_that_fills_later_is_announced_and_protected(sim: SimControl, run_engine) -> None:
    """Item 1: the example config's LIMIT profile rests; when the market trades through it, the
    fill is announced and the stop goes on the exchange."""
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0, profiles=limit_profiles()))
    resting = answer(engine, log, CommandKind.BUY)
    assert isinstance(resting, OrderAccepted) and position(sim) == 0
    mark = log.mark()
    sim.set_price("BTCUSDT", str(resting.price - 100))
    filled = log.wait_for(lambda e: isinstance(e, OrderFilled) and "resting order filled" in e.text,
                          after=mark)
    assert filled.client_order_id == resting.client_order_id and filled.command_id == 0
    log.wait_for(lambda e: isinstance(e, StopMoved), after=mark)
    wait_exchange(lambda: covered(sim))


def test_flatten_is_admitted_while_an_entry_outcome_is_unknown(sim: SimControl, run_engine) -> None:
    """Item 5: the buy's answer is lost (its outcome is resolved after recvWindow); the flatten
    pressed meanwhile runs at once, and the buy that did fill is closed too."""
    # A recvWindow long enough that the buy is still unresolved when the engine is back, even at a
    # home line's latency (the reconnect and its resync take a few round trips).
    engine, log = run_engine(make_config(sim, cooldown_ms=0, recv_window_ms=4000, timeout_ms=1500))
    sim.fault("drop_before_reply", "order.place", count=1)
    buy = Command(CommandKind.BUY, source="test")
    engine.submit(buy)
    unknown = log.wait_for(lambda e: "no answer to order" in e.text, 10)
    log.wait_for(lambda e: e.text == "Engine ready.", 10, after=log.events.index(unknown))
    flat = answer(engine, log, CommandKind.FLATTEN)
    assert isinstance(flat, CommandDone) and "Flattened" in flat.text
    assert not any(is_final_answer(e, buy.id) for e in log.events), "flatten waited for the buy"
    log.wait_for(lambda e: is_final_answer(e, buy.id), 20)
    wait_exchange(lambda: position(sim) == 0 and not our_algos(sim))


def test_a_restart_after_the_fill_before_the_stop_protects_the_position(sim: SimControl,
                                                                         journal_file) -> None:
    """Item 3: the engine stops with its stop placement in flight; the next start knows the
    position is ours (our client id on the order that opened it) and protects it."""
    config = make_config(sim, cooldown_ms=0)
    first = Engine(config, hmac_credentials(), journal_path=journal_file)
    log = EventLog()
    first.subscribe(log)
    first.start()
    log.wait_ready()
    # Every stop placement is lost before the exchange executes it: the fill lands, its stop never.
    sim.fault("drop_before_execute", "algoOrder.place", count=1000)
    assert isinstance(answer(first, log, CommandKind.BUY), OrderFilled)
    first.stop(3.0)
    sim.clear_faults()
    assert position(sim) > 0 and not our_algos(sim)      # the state a crash would leave
    second = Engine(config, hmac_credentials(), journal_path=journal_file)
    log2 = EventLog()
    second.subscribe(log2)
    second.start()
    try:
        log2.wait_ready()
        wait_exchange(lambda: covered(sim), 8)
    finally:
        second.stop(3.0)


def test_a_stop_that_fires_while_the_user_stream_is_down_leaves_nothing_behind(sim: SimControl,
                                                                               run_engine) -> None:
    """Item 6: the stop fires during a user-stream gap; the reconnect resyncs the ladder, which
    then places no stop (and says nothing) for a position that no longer exists."""
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    assert isinstance(answer(engine, log, CommandKind.BUY), OrderFilled)
    wait_exchange(lambda: covered(sim))
    mark = log.mark()
    sim.fault("expire_listen_key")
    sim.set_price("BTCUSDT", "90000")             # through the -2% hard stop: it fires
    wait_exchange(lambda: position(sim) == 0)
    # The absence of a stop is the promise here: watched over the watchdog's grace and more.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert not our_algos(sim), "a stop was placed for a position that no longer exists"
        time.sleep(0.1)
    assert not [e for e in log.events[mark:] if "safety stop" in e.text]


def test_a_position_already_through_its_hard_stop_is_closed_at_market(sim: SimControl, run_engine) -> None:
    """Item 7: a resting LIMIT buy fills as the market gaps 5% through it, so its -2% hard stop
    is refused with -2021 (it would fire at once): the position is closed at market right away,
    not left to the 10% safety stop."""
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0, profiles=limit_profiles()))
    resting = answer(engine, log, CommandKind.BUY)
    assert isinstance(resting, OrderAccepted)
    mark = log.mark()
    sim.set_price("BTCUSDT", str((resting.price * D("0.95")).quantize(D("0.1"))))
    log.wait_for(lambda e: "closed at market" in e.text, 10, after=mark)
    wait_exchange(lambda: position(sim) == 0 and not our_algos(sim))
    assert not [e for e in log.events[mark:] if "safety stop" in e.text]


def test_switching_profiles_on_one_symbol_switches_the_stop_settings(sim: SimControl, run_engine) -> None:
    """Item 11: the profile that opens a position decides its hard stop."""
    from traytrader.core.models import AslSettings

    wide = Profile(name="wide", symbol="BTCUSDT", leverage=5, notional_usdt=D("200"),
                   asl=AslSettings(hard_stop_pct=D("5")))
    tight = Profile(name="tight", symbol="BTCUSDT", leverage=5, notional_usdt=D("200"),
                    asl=AslSettings(hard_stop_pct=D("1")))
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0, profiles=(wide, tight)))
    for name, pct in (("wide", "5"), ("tight", "1")):
        assert isinstance(answer(engine, log, CommandKind.SELECT_PROFILE, name), CommandDone)
        mark = log.mark()
        fill = answer(engine, log, CommandKind.BUY)
        assert isinstance(fill, OrderFilled)
        moved = log.wait_for(lambda e: isinstance(e, StopMoved), after=mark)
        assert f"{pct}% below entry" in moved.text
        assert not isinstance(answer(engine, log, CommandKind.FLATTEN), CommandRejected)
        wait_exchange(lambda: position(sim) == 0 and not our_algos(sim))


def test_an_order_that_never_reached_the_exchange_is_not_sent_late(sim: SimControl, run_engine) -> None:
    """Found by the reliability harness (F15): with the default recvWindow (5 s) an order lost
    before the exchange executed it was sent again 5.2 s after its key. Now the key gets a definite
    answer instead, and the exchange never sees the order."""
    engine, log = run_engine(make_config(sim, cooldown_ms=0, recv_window_ms=5000, timeout_ms=600))
    sim.fault("drop_before_execute", "order.place", count=1)
    refused = answer(engine, log, CommandKind.BUY, timeout=20)
    assert isinstance(refused, CommandRejected), refused.text
    assert "never reached the exchange" in refused.text and "not sent again" in refused.text
    assert not [o for o in sim.state()["orders"] if o.get("kind") == "order"]


def test_a_listen_key_that_expires_while_the_stream_is_down_is_replaced(sim: SimControl, run_engine) -> None:
    """Found by the model test: the user stream dropped, then its listenKey expired while it was
    down (so ``listenKeyExpired`` never arrived). Every reconnect with the dead key was refused,
    the resting LIMIT's fill was never heard of, and the position stayed unprotected. A refused
    handshake now makes a new key."""
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0, profiles=limit_profiles()))
    resting = answer(engine, log, CommandKind.BUY)
    assert isinstance(resting, OrderAccepted)
    sim.fault("drop_user_stream")
    sim.fault("expire_listen_key")
    mark = log.mark()
    sim.set_price("BTCUSDT", str(resting.price - 10))      # fills the resting buy
    log.wait_for(lambda e: "the resting order filled" in e.text, 8, after=mark)
    wait_exchange(lambda: covered(sim))
