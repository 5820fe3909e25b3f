"""Fixes for the reliability findings (issue 8, F5-F12), each proved against the real simulator
over loopback or on the pure tracker: a clock jump never leaves a position without a stop, a fill
hidden by a lost answer is protected at once, a lost stop placement is replaced after a reconnect,
a ban is waited out, a stalled market stream is noticed."""

from __future__ import annotations

import dataclasses
import sys
import time
from decimal import Decimal
from pathlib import Path

from engine_kit import EventLog, SimControl, hmac_credentials, make_config, our_algos, position, press

from traytrader.core.models import PositionSide, Side
from traytrader.engine.api import (
    Command,
    CommandKind,
    CommandRejected,
    EngineState,
    Notice,
    OrderFilled,
    StateChanged,
)
from traytrader.engine.handle import Engine
from traytrader.engine.positions import PositionTracker

D = Decimal


# --- F12: positions and clocks -------------------------------------------------------------------

def test_fill_that_looks_older_than_a_flat_update_marks_the_next_opening_ours() -> None:
    tracker = PositionTracker()
    close = {"e": "ACCOUNT_UPDATE", "T": 10_000,
             "a": {"P": [{"s": "BTCUSDT", "pa": "0", "ep": "0", "up": "0", "ps": "BOTH"}]}}
    tracker.on_account_update(close)
    # The exchange clock went back 6 s: our fill's updateTime is older than the close.
    assert tracker.apply_fill("BTCUSDT", PositionSide.BOTH, Side.BUY, D("0.002"), D("60000"), 4_000) is None
    opened = tracker.on_account_update(
        {"e": "ACCOUNT_UPDATE", "T": 4_000,
         "a": {"P": [{"s": "BTCUSDT", "pa": "0.002", "ep": "60000", "up": "0", "ps": "BOTH"}]}})
    assert [p.quantity for p in opened] == [D("0.002")] and opened[0].ours


def test_close_answer_after_its_update_is_not_applied_twice() -> None:
    tracker = PositionTracker()
    tracker.apply_fill("BTCUSDT", PositionSide.BOTH, Side.BUY, D("0.002"), D("60000"), 1_000)
    tracker.on_account_update({"e": "ACCOUNT_UPDATE", "T": 2_000,
                               "a": {"P": [{"s": "BTCUSDT", "pa": "0", "ep": "0", "ps": "BOTH"}]}})
    # The reduce-only close's answer arrives after its ACCOUNT_UPDATE: no phantom short.
    assert tracker.apply_fill("BTCUSDT", PositionSide.BOTH, Side.SELL, D("0.002"), D("60000"), 2_000,
                              ours=False) is None
    assert tracker.get("BTCUSDT").quantity == 0
    # ... and the next opening (not ours, nothing pending) stays external.
    tracker.on_account_update({"e": "ACCOUNT_UPDATE", "T": 3_000,
                               "a": {"P": [{"s": "BTCUSDT", "pa": "-1", "ep": "1", "ps": "BOTH"}]}})
    assert not tracker.get("BTCUSDT").ours


def test_exchange_clock_jump_between_positions_leaves_no_position_unprotected(
        sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    for skew in (3_000, -3_000) * 3:
        sim.fault("clock_skew", ms=skew)
        assert isinstance(press(engine, log, CommandKind.BUY), OrderFilled)
        filled = time.monotonic()
        log.wait_until(lambda: len(our_algos(sim)) == 1, timeout=5)
        assert time.monotonic() - filled < 1.0, f"no stop for over a second after a {skew:+d} ms jump"
        assert isinstance(press(engine, log, CommandKind.CLOSE), OrderFilled)
        log.wait_until(lambda: position(sim) == 0 and not our_algos(sim), timeout=5)
        sim.clear_faults()


# --- F7: a fill hidden by a lost answer ----------------------------------------------------------

def test_fill_hidden_by_a_lost_answer_is_protected_before_the_outcome_is_resolved(
        sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0, timeout_ms=400, recv_window_ms=2_500))
    sim.fault("drop_before_reply", "order.place", count=1)
    mark = log.mark()
    engine.submit(Command(CommandKind.BUY, source="test"))
    log.wait_until(lambda: position(sim) > 0, timeout=5)
    executed = time.monotonic()
    log.wait_until(lambda: len(our_algos(sim)) == 1, timeout=5)
    protected_after = time.monotonic() - executed
    fill = log.wait_for(lambda e: isinstance(e, OrderFilled | CommandRejected), timeout=15, after=mark)
    assert isinstance(fill, OrderFilled), fill.text
    # Resolution waits out recvWindow (2.5 s); the stop must not.
    assert protected_after < 1.5, protected_after
    assert len(our_algos(sim)) == 1


# --- F10: a ban is waited out, not hammered --------------------------------------------------------

def test_reconnect_during_a_ban_waits_until_the_ban_ends(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    server = sim.sim.sim.server
    ban_ms = 2_500
    banned_until = server.now_ms() + ban_ms
    server.limiter._banned_until["127.0.0.1"] = banned_until   # the exchange banned our IP (418)
    mark = log.mark()
    sim.fault("close_all")
    log.wait_for(lambda e: isinstance(e, StateChanged) and "waiting until" in e.text, timeout=5, after=mark)
    log.wait_for(lambda e: isinstance(e, StateChanged) and e.state is EngineState.READY, timeout=10,
                 after=mark)
    ready_at = server.now_ms()
    assert ready_at >= banned_until, "READY before the ban ended"
    reconnects = [e for e in log.events[mark:] if isinstance(e, Notice) and e.text.startswith("Reconnected")]
    assert len(reconnects) <= 3, f"{len(reconnects)} connections during a {ban_ms} ms ban"
    assert isinstance(press(engine, log, CommandKind.BUY), OrderFilled)


# --- F5: a stalled market stream ---------------------------------------------------------------------

def test_market_stream_stall_is_detected_entries_refused_and_close_still_works(
        sim: SimControl, journal_file: Path) -> None:
    root = str(Path(__file__).resolve().parents[2])   # the repo root, for the benchmarks' TCP proxy
    if root not in sys.path:
        sys.path.insert(0, root)
    from benchmarks.reliability.proxy import FaultProxy

    proxy = FaultProxy(int(sim.rest_url.rsplit(":", 1)[1])).start()
    config = make_config(sim, cooldown_ms=0)
    config = dataclasses.replace(config, exchange=dataclasses.replace(config.exchange,
                                                                      stream_url=proxy.url("ws")))
    engine = Engine(config, hmac_credentials(), journal_path=journal_file, enable_asl=False)
    log = EventLog()
    engine.subscribe(log)
    try:
        engine.start()
        log.wait_ready()
        session = engine.session
        assert session is not None
        assert isinstance(press(engine, log, CommandKind.BUY), OrderFilled)
        proxy.stall(True)
        log.wait_until(lambda: sum(s.stalls for s in session.market_streams) >= 1, timeout=6)
        log.wait_until(lambda: (session.price_age_s("BTCUSDT") or 0) > 3.1, timeout=3)
        orders_before = len(sim.state()["orders"])
        refused = press(engine, log, CommandKind.BUY)
        assert isinstance(refused, CommandRejected) and "s old" in refused.text and "nothing was sent" in \
            refused.text, refused.text
        assert len(sim.state()["orders"]) == orders_before
        assert isinstance(press(engine, log, CommandKind.CLOSE), OrderFilled)    # closing needs no price
        proxy.stall(False)
        log.wait_until(lambda: (session.price_age_s("BTCUSDT") or 9) < 1.5, timeout=15)
        assert isinstance(press(engine, log, CommandKind.BUY), OrderFilled)
    finally:
        engine.stop(2.0)
        proxy.stop()


# --- ASL notes: algo requests through the shield; the status forgets a closed position's stop -------

def test_algo_request_rejected_for_the_clock_resyncs_and_moves_the_stop(sim: SimControl, run_engine) -> None:
    from traytrader.engine.api import StopMoved

    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    fill = press(engine, log, CommandKind.BUY)
    assert isinstance(fill, OrderFilled)
    log.wait_for(lambda e: isinstance(e, StopMoved) and e.tier == 0)
    assert engine.status().stop_tier == 0
    sim.fault("clock_skew", ms=5_000)     # beyond recvWindow: the next stop request gets -1021
    mark = log.mark()
    sim.set_price("BTCUSDT", str((fill.avg_price * D("1.025")).quantize(D("0.1"))))   # tier 2
    log.wait_for(lambda e: isinstance(e, StopMoved) and e.tier == 2, timeout=5, after=mark)
    log.wait_until(lambda: [a["type"] for a in our_algos(sim)] == ["TRAILING_STOP_MARKET"], timeout=5)
    assert engine.status().stop_tier == 2
    assert isinstance(press(engine, log, CommandKind.CLOSE), OrderFilled)
    log.wait_until(lambda: position(sim) == 0 and not our_algos(sim), timeout=5)
    log.wait_until(lambda: engine.status().position_qty == 0, timeout=5)
    assert engine.status().stop_tier is None and engine.status().stop_text == ""
    assert engine._stop_text == "", "the closed position's stop would show on the next one"


def test_warm_up_during_a_ban_waits_instead_of_giving_up(sim: SimControl, journal_file: Path) -> None:
    server = sim.sim.sim.server
    banned_until = server.now_ms() + 1_500
    server.limiter._banned_until["127.0.0.1"] = banned_until
    engine = Engine(make_config(sim), hmac_credentials(), journal_path=journal_file, enable_asl=False)
    log = EventLog()
    engine.subscribe(log)
    try:
        engine.start()
        log.wait_for(lambda e: isinstance(e, StateChanged) and "waiting until" in e.text, timeout=5)
        log.wait_ready(timeout=10)             # not ERROR ("a human must act")
        assert server.now_ms() >= banned_until
    finally:
        engine.stop(2.0)
