"""Borrowing the engine loop: a submitting thread runs a command itself while the loop is parked.

Why (issue 14): a hotkey used to reach the engine as a loop callback (``call_soon_threadsafe``).
That hop costs a wake-up of the engine thread, and then the engine thread and pynput's thread,
which goes on parsing the rest of the key chord, compete for the GIL while the order is signed and
written: ~75 µs for the hop and ~170 µs for a step that takes ~45 µs alone, out of the ~320 µs
from pynput's callback to the frame on the wire (``benchmarks/bench_desktop.py --only keys``).
Borrowing the loop does the same work on the thread that has the key, with nobody to wait for.

The contract that keeps the engine's state single-threaded:

* the engine thread holds ``LoopBorrow.lock`` whenever it runs anything, and lets go only inside
  the selector's wait (``GuardedSelector.select``), where it runs no Python code and touches no
  state; it takes the lock back before it looks at what the wait returned;
* a thread that wants to run a command takes the lock (waiting at most ``BORROW_WAIT_S``) and runs
  it only when the loop is parked in that wait *with nothing ready to run*. The command then runs
  exactly where a ``call_soon_threadsafe`` callback would have run (first in the next iteration),
  so commands keep their order: one queued earlier through the hop is still in the ready queue,
  and the borrower hops too;
* while it runs, the borrowing thread has the engine loop as its running loop (and the command's
  task as the current task: ``engine/eager.py``), then puts back whatever loop it had (the portal's
  D-Bus thread runs its own) and wakes the engine thread, which then sees the timers and callbacks
  the command scheduled.

Whenever a borrow is not possible (the loop is busy or has work ready, asyncio debug mode, the
engine thread itself submitting, the loop closed, no selector loop as on Windows' default Proactor
loop) the caller hops as before: borrowing changes when a command runs, never what it does.
"""

from __future__ import annotations

import asyncio
import selectors
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

# How long a submitting thread waits for the engine loop to park before it hops instead. The loop
# runs one iteration in well under a millisecond; waiting is never slower than the hop, which would
# queue behind that same iteration.
BORROW_WAIT_S = 0.002


class GuardedSelector(selectors.BaseSelector):
    """The loop's selector, releasing ``lock`` only while it waits for I/O (see the module
    docstring). Everything else is the wrapped selector's."""

    def __init__(self, inner: selectors.BaseSelector, lock: threading.Lock) -> None:
        self._inner = inner
        self._lock = lock
        self.parked = False   # the engine thread is inside the wait (read under ``lock``)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self.parked = True
        self._lock.release()
        try:
            return self._inner.select(timeout)
        finally:
            self._lock.acquire()
            self.parked = False

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()


def _nothing() -> None:
    """The wake-up call: the engine thread's next wait recomputes its timeout."""


class LoopBorrow:
    """One engine loop and the lock that says who runs it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.selector = GuardedSelector(selectors.DefaultSelector(), self.lock)
        self.loop = asyncio.SelectorEventLoop(self.selector)
        self._owner: int | None = None

    @contextmanager
    def owned(self) -> Iterator[asyncio.AbstractEventLoop]:
        """The engine thread's side: hold the loop for as long as it runs on this thread."""
        self.lock.acquire()
        self._owner = threading.get_ident()
        try:
            yield self.loop
        finally:
            self._owner = None
            self.lock.release()

    def run(self, callback: Callable[..., object], *args: object) -> bool:
        """Run ``callback(*args)`` on this thread as the engine loop's next callback, if the loop can
        be borrowed now (see the module docstring); False when it was not run (then hop)."""
        if self._owner is None or threading.get_ident() == self._owner:
            return False
        if not self.lock.acquire(timeout=BORROW_WAIT_S):
            return False
        loop = self.loop
        try:
            ready = getattr(loop, "_ready", None)   # asyncio's ready queue (every version to 3.14)
            if not self.selector.parked or ready is None or ready or loop.is_closed() or loop.get_debug():
                return False
            previous = asyncio.events._get_running_loop()
            asyncio.events._set_running_loop(loop)
            try:
                callback(*args)
            except Exception as exc:   # as the loop reports a failing callback; the key path goes on
                loop.call_exception_handler({"message": "Exception in a command run on its submitting "
                                             "thread", "exception": exc})
            finally:
                asyncio.events._set_running_loop(previous)
                loop.call_soon_threadsafe(_nothing)
            return True
        finally:
            self.lock.release()


def new_engine_loop() -> tuple[asyncio.AbstractEventLoop, LoopBorrow | None]:
    """The engine's loop: a borrowable selector loop, or (Windows, whose default loop is the
    Proactor) the platform's default loop, which is only ever hopped to."""
    if sys.platform == "win32":
        return asyncio.new_event_loop(), None
    borrow = LoopBorrow()
    return borrow.loop, borrow
