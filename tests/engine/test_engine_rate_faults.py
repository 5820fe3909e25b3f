"""The engine's reaction to Binance's rate-limit answers, end to end against the simulator over
loopback: a 429 on ``order.place`` holds new orders until ``retryAfter`` and says until when; a 418
ban refuses everything (reduce-only closes too: every request during a ban makes it worse) until
it ends. Nothing is sent twice and nothing is sent during the hold: the simulator counts every
request it refused (``/sim/state`` ``limits.refused``) and every order it accepted."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from engine_kit import HOME_LINE, EventLog, SimControl, make_config, order_count, our_algos, position, press

from traytrader.core.requests import WsResponse, parse_response
from traytrader.engine.api import (
    CommandKind,
    CommandRejected,
    EngineState,
    OrderFilled,
    StateChanged,
)
from traytrader.engine.journal import read_journal

IP = "127.0.0.1"


def clock(epoch_ms: int) -> str:
    """The wall-clock time the engine shows for an exchange time (the sim runs on this clock)."""
    return time.strftime("%H:%M:%S", time.localtime(epoch_ms / 1000))


def assert_until(text: str, until_ms: int) -> None:
    """``text`` names ``until_ms`` to the second (the engine's clock offset may move it by one)."""
    shown = {clock(until_ms + d) for d in (-600, 0, 600)}
    assert any(s in text for s in shown), f"{text!r} does not say {clock(until_ms)}"


def limits(sim: SimControl) -> dict[str, Any]:
    return sim.state()["limits"]


def wait_past(sim: SimControl, log: EventLog, until_ms: int, engine: Any = None) -> None:
    """Until the exchange's hold is over, and the engine's too: at a home line's latency the
    engine's clock offset is known to ±half a round trip, and it errs on the late side."""
    server = sim.sim.sim.server

    def over() -> bool:
        if server.now_ms() <= until_ms + 50:
            return False
        session = engine.session if engine is not None else None
        return session is None or session.limiter.held(session.clock.now_ms()) is None

    log.wait_until(over, timeout=10)


def test_429_on_order_place_holds_new_orders_until_retry_after(sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0), enable_asl=False)
    sim.fault("rate_limit_429", "order.place", ms=1_500)

    held = press(engine, log, CommandKind.BUY)
    assert isinstance(held, CommandRejected) and held.code == -1003, held.text
    until = limits(sim)["weightLimitedUntil"][IP]
    assert "new orders are held until" in held.text, held.text
    assert_until(held.text, until)
    hold = engine.session.limiter.hold
    assert hold is not None and abs(hold.until_ms - until) < 250, (hold, until)

    # During the hold: refused here with the same sentence; the exchange sees nothing.
    again = press(engine, log, CommandKind.BUY)
    assert isinstance(again, CommandRejected) and again.text == held.text
    state = sim.state()
    assert order_count(state) == 0 and state["limits"]["refused"] == {IP: 1}

    wait_past(sim, log, until, engine)
    filled = press(engine, log, CommandKind.BUY)
    assert isinstance(filled, OrderFilled), filled.text
    state = sim.state()
    assert order_count(state) == 1 and [o["status"] for o in state["orders"]] == ["FILLED"]
    assert state["limits"]["refused"] == {IP: 1}, "a request reached the exchange during the hold"


def test_418_ban_refuses_everything_closes_too_until_it_ends(sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0), enable_asl=False)
    opened = press(engine, log, CommandKind.BUY)
    assert isinstance(opened, OrderFilled), opened.text
    sim.fault("ban_418", "order.place", ms=2_500)

    mark = log.mark()
    banned = press(engine, log, CommandKind.BUY)
    assert isinstance(banned, CommandRejected) and banned.code == -1003, banned.text
    until = limits(sim)["bannedUntil"][IP]
    assert "banned" in banned.text and "until" in banned.text, banned.text
    assert_until(banned.text, until)
    log.wait_for(lambda e: isinstance(e, StateChanged) and e.state is EngineState.ERROR, after=mark)

    # A reduce-only close during the ban is refused here: it would only lengthen the ban.
    close = press(engine, log, CommandKind.CLOSE)
    assert isinstance(close, CommandRejected) and "banned" in close.text, close.text
    state = sim.state()
    assert order_count(state) == 1 and state["limits"]["refused"] == {IP: 1}
    assert position(sim) == opened.quantity

    wait_past(sim, log, until)
    log.wait_until(lambda: engine.status().state is EngineState.READY, timeout=5)
    closed = press(engine, log, CommandKind.CLOSE)
    assert isinstance(closed, OrderFilled), closed.text
    assert position(sim) == Decimal(0)
    state = sim.state()
    assert order_count(state) == 2 and state["limits"]["refused"] == {IP: 1}


def test_ban_with_the_asl_running_sends_nothing_until_it_ends(sim: SimControl, run_engine,
                                                             journal_file) -> None:
    """The same ban with the automatic stop loss on: its stop management sends nothing either,
    from the moment the engine learns of the ban (the journal's request rows) until it ends. At a
    home line's latency a request already on its way when the ban began still reaches the
    exchange; at loopback none does."""
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    assert isinstance(press(engine, log, CommandKind.BUY), OrderFilled)
    log.wait_until(lambda: len(our_algos(sim)) == 1, timeout=5)
    sim.fault("ban_418", "order.place", ms=2_000)
    banned = press(engine, log, CommandKind.BUY)
    assert isinstance(banned, CommandRejected) and "banned" in banned.text, banned.text
    until = limits(sim)["bannedUntil"][IP]
    sim.set_price("BTCUSDT", "102600")   # a move that makes the ASL want to move its stop
    wait_past(sim, log, until, engine)
    assert engine.session is not None and engine.session.journal.flush()
    # Journal order is the engine's order: no request row after the ban's answer, within the
    # first 1.5 s of the 2 s ban.
    rows = read_journal(journal_file)
    ban = next(row for row in rows if row.kind == "response" and "rejected: -1003" in row.text)
    sent = [row for row in rows if row.kind == "request" and row.seq > ban.seq
            and row.at_ms < ban.at_ms + 1_500]
    assert sent == [], f"the engine sent requests during the ban: {[r.text for r in sent]}"
    if not HOME_LINE:
        assert limits(sim)["refused"] == {IP: 1}, "the engine sent requests during the ban"
    log.wait_until(lambda: engine.status().state is EngineState.READY, timeout=5)
    assert isinstance(press(engine, log, CommandKind.CLOSE), OrderFilled)


def test_429_on_a_rest_request_holds_new_orders_too(sim: SimControl, run_engine) -> None:
    """A 429 with ``Retry-After`` on REST (cancel all uses ``DELETE /fapi/v1/allOpenOrders``) holds
    new orders like one on the WS API: the limit is the IP's, shared by both."""
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0), enable_asl=False)
    sim.fault("rate_limit_429", "DELETE /fapi/v1/allOpenOrders", ms=1_500)
    cancel = press(engine, log, CommandKind.CANCEL_ALL)
    assert isinstance(cancel, CommandRejected) and cancel.code == -1003, cancel.text
    until = limits(sim)["weightLimitedUntil"][IP]
    held = press(engine, log, CommandKind.BUY)
    assert isinstance(held, CommandRejected), held.text
    assert limits(sim)["refused"] == {IP: 1}, "the BUY was sent during the hold"
    hold = engine.session.limiter.hold
    # ``Retry-After`` is whole seconds, rounded up: the hold may end up to a second later.
    assert hold is not None and until - 250 <= hold.until_ms <= until + 1_250, (hold, until)
    assert_until(held.text, hold.until_ms)
    wait_past(sim, log, hold.until_ms, engine)
    assert isinstance(press(engine, log, CommandKind.BUY), OrderFilled)
    assert limits(sim)["refused"] == {IP: 1}


def test_ws_retry_after_is_read_from_the_error_data() -> None:
    """Binance's documented 418 (spot web-socket-api.md, rate limits): ``retryAfter`` is an epoch
    in ms inside ``error.data``, not in the envelope."""
    reply = parse_response(
        '{"id":"fc93a61a","status":418,"error":{"code":-1003,"msg":"Way too much request weight used; '
        'IP banned until 1659146400000. Please use WebSocket Streams for live updates to avoid bans.",'
        '"data":{"serverTime":1659142907531,"retryAfter":1659146400000}},"rateLimits":[{"rateLimitType":'
        '"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000,"count":2411}]}')
    assert isinstance(reply, WsResponse) and reply.retry_until_ms == 1659146400000
