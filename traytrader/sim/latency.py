"""A home line: every WS API reply, REST answer and stream frame leaves ``ms ± jitter`` late.

Loopback answers in microseconds, so a client's timers are never tried at the 50-250 ms a trader at
home sees. :class:`Latency` draws one seeded delay per outgoing frame (uniform in
``[ms - jitter, ms + jitter]``, never below 0); :class:`DelayLine` sends one connection's frames in
the order they were produced, each no earlier than its own due time (a later frame drawn shorter
waits for the one before it), so per-connection order is kept as TCP keeps it. Requests are executed
at once: only the answers travel slowly, so a reply and the stream events it caused may arrive in
either order, as over a real line.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import Awaitable, Callable

_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:(?:±|\+-|\+/-)\s*(\d+(?:\.\d+)?))?\s*$")
MAX_MS = 60_000.0


def parse_latency(spec: str) -> tuple[float, float]:
    """``"150"``, ``"150±50"``, ``"150+-50"`` or ``"150+/-50"`` -> (ms, jitter); ValueError otherwise."""
    m = _SPEC.match(spec)
    if m is None:
        raise ValueError(f"--latency {spec!r} is not MS or MS±JITTER (e.g. 150±50).")
    ms, jitter = float(m.group(1)), float(m.group(2) or 0)
    check_latency(ms, jitter)
    return ms, jitter


def check_latency(ms: float, jitter: float) -> None:
    if not (0 <= ms <= MAX_MS and 0 <= jitter <= MAX_MS):
        raise ValueError(f"latency and jitter must be between 0 and {MAX_MS:.0f} ms.")


class Latency:
    """The line's delay now (changeable at run time by ``/sim/latency``), drawn from a seeded RNG."""

    def __init__(self, ms: float = 0.0, jitter: float = 0.0, seed: int = 0) -> None:
        check_latency(ms, jitter)
        self.ms = ms
        self.jitter = jitter
        self._rng = random.Random(seed * 7919 + 17)

    def set(self, ms: float, jitter: float) -> None:
        check_latency(ms, jitter)
        self.ms, self.jitter = ms, jitter

    @property
    def active(self) -> bool:
        return self.ms > 0 or self.jitter > 0

    def sample_s(self) -> float:
        """One frame's delay in seconds (0 when the line is off)."""
        if not self.active:
            return 0.0
        return max(0.0, self.ms + self._rng.uniform(-self.jitter, self.jitter)) / 1000

    def describe(self) -> dict:
        return {"ms": self.ms, "jitter": self.jitter}


class DueClock:
    """Per-connection due times that never go backwards (order is kept; only spacing varies)."""

    def __init__(self, latency: Latency | None) -> None:
        self.latency = latency
        self._last_due = 0.0

    def due(self) -> float:
        """The monotonic time the next frame may leave, or 0.0 for "now" when the line is off."""
        lat = self.latency
        if lat is None or (not lat.active and self._last_due <= time.monotonic()):
            return 0.0
        due = max(time.monotonic() + lat.sample_s(), self._last_due)
        self._last_due = due
        return due


async def wait_until(due: float) -> None:
    if due:
        left = due - time.monotonic()
        if left > 0:
            await asyncio.sleep(left)


class DelayLine:
    """Sends one connection's frames in order, each at its due time (WS API replies use it)."""

    def __init__(self, latency: Latency | None) -> None:
        self.clock = DueClock(latency)
        self._tail: asyncio.Future | None = None

    async def send(self, send: Callable[[str], Awaitable[None]], text: str) -> None:
        due = self.clock.due()
        if not due and (self._tail is None or self._tail.done()):
            await send(text)
            return
        self._tail = asyncio.ensure_future(self._later(self._tail, due, send, text))

    async def idle(self) -> None:
        """Wait until every frame handed to the line so far has been sent."""
        if self._tail is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._tail

    @staticmethod
    async def _later(
        prev: asyncio.Future | None, due: float, send: Callable[[str], Awaitable[None]], text: str
    ) -> None:
        if prev is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await prev
        await wait_until(due)
        with contextlib.suppress(Exception):
            await send(text)
