"""``EagerStart``: a task whose first step ran at once, in the callback that created it, behaves as
if it had run all of it itself (current task, result, exceptions before and after the first
suspension, cancellation)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from traytrader.engine.eager import EagerStart


def eager_task(coro: Coroutine[Any, Any, Any]) -> tuple[asyncio.Task[Any], bool]:
    wrapper = EagerStart(coro)
    task = asyncio.get_running_loop().create_task(wrapper)
    return task, wrapper.first_step(task)


async def in_a_callback(make: Any) -> Any:
    """Run ``make()`` in a plain loop callback, as the engine runs a submitted command."""
    done = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(lambda: done.set_result(make()))
    return await done


async def test_the_first_step_runs_now_as_the_task_and_the_rest_later() -> None:
    steps: list[Any] = []
    gate = asyncio.get_running_loop().create_future()

    async def command() -> str:
        steps.append(asyncio.current_task())   # aiohttp and asyncio.timeout need one
        value = await gate
        steps.append(f"after {value}")
        return "done"

    task, eager = await in_a_callback(lambda: eager_task(command()))
    assert eager and steps == [task]            # ran in the callback, as the task
    await asyncio.sleep(0)
    assert not task.done()
    gate.set_result("reply")
    assert await task == "done" and steps == [task, "after reply"]


async def test_timeouts_work_in_the_first_step() -> None:
    async def command() -> str:
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(10)
        except TimeoutError:
            return "timed out"
        return "slept"

    task, eager = await in_a_callback(lambda: eager_task(command()))
    assert eager and await task == "timed out"


async def test_results_and_exceptions_come_out_of_the_task() -> None:
    async def refused() -> str:
        return "refused"

    async def fails_at_once() -> None:
        raise ValueError("at once")

    async def fails_later() -> None:
        await asyncio.sleep(0)
        raise KeyError("later")

    task, _ = await in_a_callback(lambda: eager_task(refused()))
    assert await task == "refused"
    task, _ = await in_a_callback(lambda: eager_task(fails_at_once()))
    with pytest.raises(ValueError, match="at once"):
        await task
    task, _ = await in_a_callback(lambda: eager_task(fails_later()))
    with pytest.raises(KeyError, match="later"):
        await task


@pytest.mark.parametrize("before_the_task_ran", [True, False])
async def test_cancelling_reaches_the_coroutine_where_it_waits(before_the_task_ran: bool) -> None:
    seen: list[str] = []

    async def waits() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled inside")
            raise
        finally:
            seen.append("cleaned up")

    def start_and_maybe_cancel() -> asyncio.Task[Any]:
        task, _ = eager_task(waits())
        if before_the_task_ran:
            task.cancel()
        return task

    task = await in_a_callback(start_and_maybe_cancel)
    if not before_the_task_ran:
        await asyncio.sleep(0)
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled inside", "cleaned up"]


async def test_inside_another_task_it_starts_as_usual() -> None:
    async def command() -> asyncio.Task[Any] | None:
        return asyncio.current_task()

    task, eager = eager_task(command())   # called from this test's own task
    assert not eager and await task is task
