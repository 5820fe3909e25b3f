"""Run a command task's first step now, in the loop callback that creates it (an eager task start).

Why (issue 14): a command reaches the engine as a callback (on the loop after a hop, or on the
submitting thread that borrowed the loop: ``engine/loop_borrow.py``), which spawns the command's
task; the task's first step, where what the command sends is written, then waited for the next
loop iteration: one more ``select()``, which releases the GIL, and whatever else had become ready.
Run in the callback instead, the frame is written there: ~90-130 µs less from the pynput callback
to the wire on the 2-core test box, when every key still hopped (an interleaved A/B in
``benchmarks/bench_desktop.py``'s set-up). An armed entry no longer needs it: ``Dispatcher.fire``
writes it before any task exists; closes, flattens and entries armed on the spot still do.

Python 3.12 has this built in (``asyncio.Task(..., eager_start=True)``); 3.11 does not. Here the task
is created as usual around an ``EagerStart`` wrapper; ``first_step`` then runs the coroutine up to
its first suspension at once, with that task entered as the current task (``aiohttp`` and
``asyncio.timeout`` need one), and the task's own first step merely picks up what it suspended on.
Entering a task uses asyncio's ``_enter_task``/``_leave_task`` (what 3.12's eager start does too);
where they are missing, or another task is running, the task simply starts as it always did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

_enter_task = getattr(asyncio.tasks, "_enter_task", None)
_leave_task = getattr(asyncio.tasks, "_leave_task", None)


class EagerStart(Coroutine[Any, Any, Any]):
    """``coro``, as a task sees it, except that its first step may already have run: the task's
    first ``send`` then gets what that step yielded (or its result, or its exception)."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._coro = coro
        self._first: tuple[str, Any] | None = None   # ("yield" | "return" | "raise", value)
        self.__qualname__ = getattr(coro, "__qualname__", type(coro).__name__)   # the task's repr

    def first_step(self, task: asyncio.Task[Any]) -> bool:
        """Run the first step now, as ``task``; False when it cannot (the task will run it)."""
        loop = task.get_loop()
        if _enter_task is None or _leave_task is None or asyncio.current_task(loop) is not None:
            return False
        _enter_task(loop, task)
        try:
            self._first = ("yield", self._coro.send(None))
        except StopIteration as stop:
            self._first = ("return", stop.value)
        except BaseException as exc:  # the task raises it, as it would have
            self._first = ("raise", exc)
        finally:
            _leave_task(loop, task)
        return True

    def send(self, value: Any) -> Any:
        first, self._first = self._first, None
        if first is None:
            return self._coro.send(value)
        kind, item = first
        if kind == "yield":
            return item
        if kind == "return":
            raise StopIteration(item)
        raise item

    def throw(self, exc: Any, value: Any = None, traceback: Any = None) -> Any:  # type: ignore[override]
        """A cancellation before the task's first step reaches the coroutine where it waits."""
        self._first = None
        if value is None and traceback is None:
            return self._coro.throw(exc)
        return self._coro.throw(exc, value, traceback)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield from self._coro.__await__())   # awaited directly (not as a task): plain
