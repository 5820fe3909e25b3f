"""The ASL driver inside the real engine, against the real simulator on loopback: stops on the
exchange after a fill, tier moves make-before-break, stop-outs, hand closes, lost answers and
restart recovery. Prices are set through ``/sim/price`` (which pauses the walk); every wait is on
a condition with a timeout."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from engine_kit import EventLog, SimControl, make_config, our_algos, position

from traytrader.engine.api import (
    Command,
    CommandKind,
    OrderFilled,
    SafetyAction,
    StopMoved,
    StoppedOut,
)
from traytrader.engine.handle import Engine
from traytrader.engine.journal import read_journal

D = Decimal


def buy(engine: Engine, log: EventLog, kind: CommandKind = CommandKind.BUY) -> OrderFilled:
    mark = log.mark()
    engine.submit(Command(kind, source="test"))
    fill = log.wait_type(OrderFilled, after=mark)
    assert isinstance(fill, OrderFilled)
    return fill


def wait_algos(log: EventLog, sim: SimControl, predicate, timeout: float = 10.0) -> list[dict[str, Any]]:
    found: list[list[dict[str, Any]]] = []

    def check() -> bool:
        algos = our_algos(sim)
        if predicate(algos):
            found.append(algos)
            return True
        return False

    log.wait_until(check, timeout)
    return found[-1]


def test_fill_gets_a_hard_stop_then_tiers_then_stopped_out(sim: SimControl, run_engine,
                                                           journal_file: Path) -> None:
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    fill = buy(engine, log)
    moved = log.wait_type(StopMoved)
    assert moved.tier == 0 and moved.stop_type == "STOP_MARKET"
    (hard,) = wait_algos(log, sim, lambda a: len(a) == 1)
    assert hard["type"] == "STOP_MARKET" and hard["side"] == "SELL" and hard["reduceOnly"] is True
    assert D(hard["quantity"]) == fill.quantity and hard["workingType"] == "MARK_PRICE"
    entry = fill.avg_price
    ticks = (entry * D("0.98") / D("0.1")).to_integral_value("ROUND_CEILING")   # towards the market
    assert D(hard["triggerPrice"]) == ticks * D("0.1")

    mark = log.mark()
    sim.set_price("BTCUSDT", str((entry * D("1.025")).quantize(D("0.1"))))   # +2.5%: tier 2
    moved = log.wait_for(lambda e: isinstance(e, StopMoved) and e.tier == 2, after=mark)
    assert moved.text == "BTCUSDT long: stop → trailing 1.5% (tier 2)"
    (trail,) = wait_algos(log, sim, lambda a: len(a) == 1 and a[0]["type"] == "TRAILING_STOP_MARKET")
    assert D(trail["callbackRate"]) == D("1.5") and D(trail["quantity"]) == fill.quantity
    assert [o["clientAlgoId"] for o in our_algos(sim, "CANCELED")] == [hard["clientAlgoId"]]

    mark = log.mark()
    exit_price = (entry * D("1.025") * D("0.98")).quantize(D("0.1"))        # below the 1.5% trail
    sim.set_price("BTCUSDT", str(exit_price))
    out = log.wait_type(StoppedOut, after=mark)
    assert out.exit_price > 0 and "stopped out" in out.text
    log.wait_until(lambda: position(sim) == 0 and not our_algos(sim))
    engine.stop(2.0)
    entries = [e for e in read_journal(journal_file) if e.kind == "asl"]
    assert [e.text for e in entries][-2:] == [moved.text, out.text]     # every move is journalled
    assert '"stop_type":"TRAILING_STOP_MARKET"' in entries[-2].data and entries[-2].symbol == "BTCUSDT"


def test_hand_close_cancels_the_stop_and_reverse_replaces_it(sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    buy(engine, log)
    (long_stop,) = wait_algos(log, sim, lambda a: len(a) == 1)
    buy(engine, log, CommandKind.REVERSE)
    log.wait_until(lambda: position(sim) < 0)
    (short_stop,) = wait_algos(log, sim, lambda a: len(a) == 1 and a[0]["side"] == "BUY")
    assert short_stop["clientAlgoId"] != long_stop["clientAlgoId"]
    engine.submit(Command(CommandKind.CLOSE, source="test"))
    log.wait_until(lambda: position(sim) == 0 and not our_algos(sim))


def test_unknown_placement_is_reconciled_and_no_stop_is_doubled(sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    sim.fault("unknown_503", "algoOrder.place", count=1)          # executed, answer says "unknown"
    buy(engine, log)
    log.wait_type(StopMoved)                                        # confirmed by ALGO_UPDATE or query
    (stop,) = wait_algos(log, sim, lambda a: len(a) == 1)
    assert stop["type"] == "STOP_MARKET"
    assert len(our_algos(sim)) == 1


def test_restart_adopts_our_stop_and_continues_at_the_profit_tier(sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    config = make_config(sim, cooldown_ms=0)
    engine, log = run_engine(config)
    fill = buy(engine, log)
    (hard,) = wait_algos(log, sim, lambda a: len(a) == 1)
    engine.stop(2.0)
    sim.set_price("BTCUSDT", str((fill.avg_price * D("1.045")).quantize(D("0.1"))))  # +4.5% while away
    _, log2 = run_engine(config)
    moved = log2.wait_for(lambda e: isinstance(e, StopMoved) and e.tier == 3, timeout=15)
    assert "trailing 1%" in moved.text
    (trail,) = wait_algos(log2, sim, lambda a: len(a) == 1 and a[0]["type"] == "TRAILING_STOP_MARKET")
    assert D(trail["callbackRate"]) == D("1") and trail["clientAlgoId"] != hard["clientAlgoId"]
    assert not log2.of_type(SafetyAction)


def test_after_a_restart_the_status_line_shows_the_adopted_stop(sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    config = make_config(sim, cooldown_ms=0)
    engine, log = run_engine(config)
    buy(engine, log)
    (hard,) = wait_algos(log, sim, lambda a: len(a) == 1)
    said = log.wait_for(lambda e: isinstance(e, StopMoved)).text
    engine.stop(2.0)
    engine2, log2 = run_engine(config)   # same price: the stop is adopted as it is, no move to announce
    log2.wait_until(lambda: engine2.status().stop_text != "")
    assert engine2.status().stop_text == said and engine2.status().stop_tier == 0
    assert not log2.of_type(StopMoved)
    assert [a["clientAlgoId"] for a in wait_algos(log2, sim, lambda a: len(a) == 1)] == [hard["clientAlgoId"]]


def test_hedge_mode_stop_carries_the_position_side(sim: SimControl, run_engine) -> None:
    sim.set_price("BTCUSDT", "100000")
    sim._request("POST", "/sim/position_mode", {"mode": "hedge"})
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    buy(engine, log, CommandKind.SELL)
    (stop,) = wait_algos(log, sim, lambda a: len(a) == 1)
    assert stop["positionSide"] == "SHORT" and stop["side"] == "BUY" and stop["reduceOnly"] is False
    assert stop["triggerPrice"] in ("102000", "102000.0") or D(stop["triggerPrice"]) < D("102100")


def test_watchdog_closes_when_even_the_safety_stop_would_trigger(sim: SimControl, run_engine) -> None:
    """The first stop request is lost with its connection; before the retry the price falls 15%:
    the hard stop (-2%) is refused with -2021, so is the 10% safety stop, and the position is
    closed at market with a one-sentence reason."""
    sim.set_price("BTCUSDT", "100000")
    engine, log = run_engine(make_config(sim, cooldown_ms=0))
    sim.fault("drop_before_execute", "algoOrder.place", count=1)
    buy(engine, log)
    sim.set_price("BTCUSDT", "85000")
    safety = log.wait_for(lambda e: isinstance(e, SafetyAction) and "closed at market" in e.text, timeout=15)
    assert "BTCUSDT long" in safety.text
    log.wait_until(lambda: position(sim) == 0 and not our_algos(sim), timeout=10)
