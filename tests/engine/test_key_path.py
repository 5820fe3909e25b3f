"""The key path (issue 14): an entry key's armed frame is written by ``Dispatcher.fire`` before its
command's task exists, on the submitting thread when the loop can be borrowed, and the path is
walked ahead of the key while a hotkey's modifier is held (``prime_key_path``).

What must hold: ``fire`` applies exactly ``execute``'s checks and writes exactly the armed order,
once, recorded once; where it declines, nothing was written and ``execute`` does the command (and
says why it refuses); a key from another thread is executed there while the engine loop is idle,
answered once; priming walks send, consume and schedule nothing beyond its own walks, and stop."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_kit import EventLog, SimControl, make_config, on_loop, order_count

from traytrader.core.models import Side
from traytrader.engine.api import Command, CommandKind, CommandRejected, OrderFilled, is_final_answer
from traytrader.engine.entry_arming import PRIMED_EVERY_S
from traytrader.engine.handle import Engine
from traytrader.engine.journal import read_journal


@pytest.fixture
def run_engine(run_engine: Callable[..., tuple[Engine, EventLog]]) -> Callable[..., tuple[Engine, EventLog]]:
    return functools.partial(run_engine, enable_asl=False)


def armed_both(engine: Engine) -> bool:
    dispatcher = engine.dispatcher
    return dispatcher is not None and Side.BUY in dispatcher._armed and Side.SELL in dispatcher._armed


def our_orders(sim: SimControl) -> list[dict[str, Any]]:
    return [o for o in sim.state()["orders"] if o.get("kind") != "algo"]


def test_fire_writes_the_armed_order_at_once_and_execute_finishes_it(
        sim: SimControl, run_engine, journal_file: Path) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, recv_window_ms=5000))
    log.wait_until(lambda: armed_both(engine))
    dispatcher, session = engine.dispatcher, engine.session
    assert dispatcher is not None and session is not None
    command = Command(CommandKind.BUY, source="test")

    async def fire_then_execute() -> tuple[Any, Any, int]:
        armed = dispatcher._armed[Side.BUY]
        fired = dispatcher.fire(command, engine.active_profile)
        in_flight = session.ws.in_flight if session.ws is not None else -1   # before any loop turn
        if fired is not None:
            await dispatcher.execute(command, engine.active_profile, fired)
        return armed, fired, in_flight

    armed, fired, in_flight = on_loop(engine, fire_then_execute())
    assert fired is not None and fired.request is armed.request and in_flight == 1
    fill = log.wait_for(lambda e: is_final_answer(e, command.id))
    assert isinstance(fill, OrderFilled) and fill.client_order_id == armed.request.client_order_id
    assert [o["clientOrderId"] for o in our_orders(sim)] == [armed.request.client_order_id]
    engine.stop(2.0)
    rows = [r for r in read_journal(journal_file) if r.client_id == armed.request.client_order_id]
    assert [r.kind for r in rows if r.kind in ("command", "request")] == ["command", "request"]
    assert "signature" not in rows[1].data


def test_fire_declines_what_is_not_an_armed_entry_it_may_send(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, recv_window_ms=5000))
    log.wait_until(lambda: armed_both(engine))
    dispatcher = engine.dispatcher
    assert dispatcher is not None
    profile = engine.active_profile

    async def declines() -> dict[str, Any]:
        results: dict[str, Any] = {"close": dispatcher.fire(Command(CommandKind.CLOSE), profile),
                                   "flatten": dispatcher.fire(Command(CommandKind.FLATTEN), profile)}
        dispatcher._in_flight[profile.symbol] = [CommandKind.SELL]   # an entry still in flight
        results["in flight"] = dispatcher.fire(Command(CommandKind.BUY), profile)
        results["kept"] = Side.BUY in dispatcher._armed
        dispatcher._in_flight.pop(profile.symbol)
        late = Command(CommandKind.BUY, accepted_ns=1)   # reached the engine long after its key
        results["late"] = dispatcher.fire(late, profile)
        return results

    results = on_loop(engine, declines())
    assert results == {"close": None, "flatten": None, "in flight": None, "kept": True, "late": None}
    assert order_count(sim.state()) == 0


def test_when_a_cap_refuses_fire_sends_nothing_and_the_command_says_why(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, recv_window_ms=5000, max_per_minute=1))
    log.wait_until(lambda: armed_both(engine))
    first = Command(CommandKind.BUY, source="test")
    engine.submit(first)
    assert isinstance(log.wait_for(lambda e: is_final_answer(e, first.id)), OrderFilled)
    dispatcher = engine.dispatcher
    assert dispatcher is not None

    async def fire_second() -> Any:
        return dispatcher.fire(Command(CommandKind.SELL), engine.active_profile)

    assert on_loop(engine, fire_second()) is None
    second = Command(CommandKind.SELL, source="test")
    engine.submit(second)
    refused = log.wait_for(lambda e: is_final_answer(e, second.id))
    assert isinstance(refused, CommandRejected) and "max_orders_per_minute" in refused.text
    assert order_count(sim.state()) == 1


def test_a_key_from_another_thread_runs_there_and_is_answered_once(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, recv_window_ms=5000))
    log.wait_until(lambda: armed_both(engine))
    ran_on: dict[int, str] = {}
    on_command = engine._on_command

    def recording(command: Command) -> None:   # observes where each command ran; changes nothing
        ran_on[command.id] = threading.current_thread().name
        on_command(command)

    engine._on_command = recording  # type: ignore[method-assign]
    kinds = [CommandKind.BUY, CommandKind.SELL] * 3
    commands = [Command(kind, source="hotkey") for kind in kinds]
    for command in commands:
        key_thread = threading.Thread(target=engine.submit, args=(command,), name=f"key-{command.id}")
        key_thread.start()
        key_thread.join(5)
        log.wait_for(lambda e, c=command: is_final_answer(e, c.id))   # type: ignore[misc]
    answers = [e for e in log.events if is_final_answer(e)]
    assert sorted(e.command_id for e in answers) == sorted(c.id for c in commands)
    assert all(isinstance(e, OrderFilled) for e in answers)
    assert order_count(sim.state()) == len(commands)
    # the engine loop is idle between a test's keys: most run on their own thread, not all need to
    assert sum(ran_on[c.id] == f"key-{c.id}" for c in commands) >= 1


def test_priming_walks_until_unprimed_and_sends_nothing(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, recv_window_ms=5000))
    log.wait_until(lambda: armed_both(engine))
    dispatcher, session = engine.dispatcher, engine.session
    assert dispatcher is not None and session is not None
    walks: list[str] = []
    walked_enough = threading.Event()

    def front_end_walk() -> None:
        walks.append(threading.current_thread().name)
        if len(walks) >= 20:
            walked_enough.set()

    counted_before = len(session.limiter._sent)
    engine.prime(front_end_walk)
    assert walked_enough.wait(20 * PRIMED_EVERY_S + 5)
    engine.unprime()

    async def after_unprime() -> tuple[bool, int]:
        await asyncio.sleep(10 * PRIMED_EVERY_S)
        return dispatcher._priming is None, len(walks)

    stopped, count = on_loop(engine, after_unprime())
    assert stopped
    assert on_loop(engine, asyncio.sleep(10 * PRIMED_EVERY_S, len(walks))) == count
    assert "traytrader-engine" in walks   # after the first walk, on the engine loop
    assert len(session.limiter._sent) == counted_before
    assert order_count(sim.state()) == 0


def test_a_key_ends_priming_and_a_failing_front_end_walk_is_dropped(sim: SimControl, run_engine) -> None:
    engine, log = run_engine(make_config(sim, cooldown_ms=0, recv_window_ms=5000))
    log.wait_until(lambda: armed_both(engine))
    dispatcher = engine.dispatcher
    assert dispatcher is not None
    failures: list[int] = []

    def failing_walk() -> None:
        failures.append(1)
        raise RuntimeError("a front end bug")

    engine.prime(failing_walk)
    log.wait_until(lambda: dispatcher._walk_also is None and dispatcher._priming is not None)
    assert failures == [1]
    command = Command(CommandKind.BUY, source="hotkey")
    engine.submit(command)
    assert isinstance(log.wait_for(lambda e: is_final_answer(e, command.id)), OrderFilled)
    log.wait_until(lambda: dispatcher._priming is None)
