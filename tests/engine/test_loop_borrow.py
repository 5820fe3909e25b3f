"""Borrowing the engine loop (engine/loop_borrow.py), on a real selector loop in its own thread.

What must hold: while a thread runs something on the borrowed loop, the engine thread runs
nothing; a borrow never overtakes work the loop already had ready (so commands keep their order);
the borrower sees the engine loop as its running loop and gets its own back; whatever it schedules
runs on time; a failure is reported like a failing loop callback and frees the loop; and where a
borrow is not possible (the engine thread itself, debug mode, a closed loop) it says so at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from traytrader.engine.loop_borrow import BORROW_WAIT_S, LoopBorrow


class EngineThread:
    """A loop run the way ``Engine._thread_main`` runs it: inside ``owned()``."""

    def __init__(self) -> None:
        self.borrow = LoopBorrow()
        self.loop = self.borrow.loop
        self.errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda loop, context: self.errors.append(context))
        self._stop = threading.Event()
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._main, name="loop-under-test")

    def _main(self) -> None:
        with self.borrow.owned():
            self.loop.call_soon(self._started.set)
            self.loop.run_until_complete(self._until_stopped())
            self.loop.close()

    async def _until_stopped(self) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(0.005)

    def start(self) -> EngineThread:
        self.thread.start()
        assert self._started.wait(5)
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)

    def call(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` on the loop (a plain hop) and return its result."""
        async def run() -> Any:
            return function()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    def borrow_until_run(self, callback: Callable[..., object], *args: object) -> None:
        """Borrow until the loop can be borrowed (it is busy only for moments here)."""
        deadline = time.monotonic() + 5
        while not self.borrow.run(callback, *args):
            assert time.monotonic() < deadline, "the loop was never free to borrow"
            time.sleep(0.001)


@pytest.fixture
def engine_thread() -> Iterator[EngineThread]:
    running = EngineThread().start()
    yield running
    running.stop()


def test_the_callback_runs_on_the_calling_thread_while_the_engine_thread_runs_nothing(
        engine_thread: EngineThread) -> None:
    ran: list[tuple[str, float]] = []

    def long_callback() -> None:
        # a timer on the engine loop due in 20 ms, while this callback holds the loop for 100 ms
        engine_thread.loop.call_later(0.02, lambda: ran.append(("timer", time.monotonic())))
        ran.append(("borrowed on " + threading.current_thread().name, time.monotonic()))
        time.sleep(0.1)
        ran.append(("borrowed done", time.monotonic()))

    engine_thread.borrow_until_run(long_callback)
    deadline = time.monotonic() + 5
    while len(ran) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert [name for name, _ in ran] == [f"borrowed on {threading.current_thread().name}",
                                         "borrowed done", "timer"]


def test_a_borrow_never_overtakes_what_the_loop_already_had_to_run(engine_thread: EngineThread) -> None:
    """Thread A queues X through the hop, then thread B borrows for Y: X always runs first, whether
    B finds X still queued (it must not borrow) or already run."""
    def queue_x(order: list[str]) -> None:
        engine_thread.loop.call_soon_threadsafe(order.append, "X")

    def borrow_y(order: list[str]) -> None:
        if not engine_thread.borrow.run(order.append, "Y"):
            engine_thread.loop.call_soon_threadsafe(order.append, "Y")

    for _ in range(50):
        order: list[str] = []
        engine_thread.borrow_until_run(queue_x, order)   # X sits in the ready queue when this ends
        other = threading.Thread(target=borrow_y, args=(order,))
        other.start()
        other.join(5)
        engine_thread.call(lambda: None)   # one more loop turn: both have run
        assert order == ["X", "Y"]


def test_the_borrower_has_the_engine_loop_as_its_running_loop_then_its_own_again(
        engine_thread: EngineThread) -> None:
    seen: dict[str, object] = {}

    async def a_thread_with_its_own_loop() -> None:
        own = asyncio.get_running_loop()

        def inside() -> None:
            seen["inside"] = asyncio.get_running_loop()

        engine_thread.borrow_until_run(inside)
        seen["own_after"] = asyncio.get_running_loop() is own

    threading_result = threading.Thread(target=asyncio.run, args=(a_thread_with_its_own_loop(),))
    threading_result.start()
    threading_result.join(5)
    assert seen["inside"] is engine_thread.loop
    assert seen["own_after"] is True

    def plain_inside() -> None:
        seen["plain"] = asyncio.get_running_loop()

    engine_thread.borrow_until_run(plain_inside)
    assert seen["plain"] is engine_thread.loop
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()   # this (loop-less) thread has none again


def test_what_the_borrower_schedules_runs_on_time(engine_thread: EngineThread) -> None:
    # the engine loop is parked with a long timeout (its only timer is 5 ms away, then 10 s)
    fired = threading.Event()
    engine_thread.loop.call_soon_threadsafe(engine_thread.loop.call_later, 10, lambda: None)

    def schedule() -> None:
        asyncio.get_running_loop().call_later(0.01, fired.set)
        asyncio.get_running_loop().create_task(asyncio.sleep(0))

    started = time.monotonic()
    engine_thread.borrow_until_run(schedule)
    assert fired.wait(2)
    assert time.monotonic() - started < 1


def test_a_failing_callback_is_reported_and_frees_the_loop(engine_thread: EngineThread) -> None:
    def fails() -> None:
        raise ValueError("boom")

    engine_thread.borrow_until_run(fails)
    assert [type(c.get("exception")) for c in engine_thread.errors] == [ValueError]
    assert engine_thread.call(lambda: "still running") == "still running"
    engine_thread.borrow_until_run(lambda: None)


def test_the_engine_thread_itself_never_borrows_or_waits(engine_thread: EngineThread) -> None:
    def from_the_loop() -> tuple[bool, float]:
        started = time.perf_counter()
        result = engine_thread.borrow.run(lambda: None)
        return result, time.perf_counter() - started

    borrowed, took = engine_thread.call(from_the_loop)
    assert borrowed is False and took < BORROW_WAIT_S


def test_no_borrow_in_debug_mode_or_once_the_loop_is_closed() -> None:
    engine_thread = EngineThread().start()
    try:
        engine_thread.call(lambda: engine_thread.loop.set_debug(True))
        assert engine_thread.borrow.run(lambda: None) is False
        engine_thread.call(lambda: engine_thread.loop.set_debug(False))
        engine_thread.borrow_until_run(lambda: None)
    finally:
        engine_thread.stop()
    assert engine_thread.loop.is_closed()
    ran: list[int] = []
    assert engine_thread.borrow.run(ran.append, 1) is False and ran == []
