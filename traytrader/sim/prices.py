"""Price paths: a seeded random walk, or a CSV of candles replayed at ``speed`` times real time.

Pure: the server calls :meth:`PricePath.advance` with the current time and gets the new last price
(rounded to the tick) or None when nothing moved. Inside each replayed candle the path walks
open -> low -> high -> close for a rising candle (close >= open) and open -> high -> low -> close for
a falling one, one third of the candle's duration per leg, so the candle's range is really visited.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from traytrader.core.errors import ConfigError

#: Random-walk step: one move per WALK_STEP_MS of simulated time, log-normal with this sigma.
#: 5e-5 per 250 ms is about 2.7 % daily volatility, close to BTC's usual range.
WALK_STEP_MS = 250
WALK_SIGMA = 5e-5


@dataclass(frozen=True)
class Candle:
    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal

    def waypoints(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        if self.close >= self.open:
            return (self.open, self.low, self.high, self.close)
        return (self.open, self.high, self.low, self.close)


def load_candles(path: str | Path) -> list[Candle]:
    """Read ``open_time_ms,open,high,low,close,volume`` rows; raise ConfigError naming the bad row."""
    p = Path(path)
    try:
        fh = p.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read the prices file {p} ({exc.strerror}).") from None
    out: list[Candle] = []
    with fh:
        for n, row in enumerate(csv.reader(fh), 1):
            if not row or (n == 1 and not row[0].strip().lstrip("-").isdigit()):
                continue  # blank line or header
            try:
                c = Candle(int(row[0]), Decimal(row[1]), Decimal(row[2]), Decimal(row[3]), Decimal(row[4]))
            except (IndexError, ValueError, ArithmeticError):
                raise ConfigError(
                    f"Line {n} of the prices file {p} is not open_time_ms,open,high,low,close."
                ) from None
            if not (c.low <= min(c.open, c.close) and max(c.open, c.close) <= c.high and c.low > 0):
                raise ConfigError(f"Line {n} of the prices file {p} has low/high outside open/close.")
            out.append(c)
    if not out:
        raise ConfigError(f"The prices file {p} has no candles.")
    return out


def on_tick(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP) * tick


class PricePath:
    """One symbol's path. ``speed`` scales time for both the walk and the replay."""

    def __init__(
        self,
        start: Decimal,
        tick: Decimal,
        *,
        seed: int,
        candles: list[Candle] | None = None,
        speed: float = 1.0,
        now_ms: int = 0,
    ) -> None:
        self.tick = tick
        self.speed = speed
        self.candles = candles
        self.paused = False
        self._rng = random.Random(seed)
        self._last_ms = now_ms
        self._t = 0.0  # simulated ms since the start of the replay, or carry for the walk
        if candles:
            self.candle_ms = candles[1].open_time_ms - candles[0].open_time_ms if len(candles) > 1 else 60_000
            self.price = on_tick(candles[0].open, tick)
        else:
            self.candle_ms = 0
            self.price = on_tick(start, tick)
        self._walk = float(self.price)

    # -- control -----------------------------------------------------------------------------
    def set(self, price: Decimal) -> Decimal:
        """Jump to ``price`` and pause (the control API's ``/sim/price``)."""
        self.paused = True
        self.price = on_tick(price, self.tick)
        self._walk = float(self.price)
        return self.price

    def resume(self, now_ms: int) -> None:
        self.paused = False
        self._last_ms = now_ms

    def step(self, n: int = 1) -> Decimal:
        """Advance ``n`` steps (walk moves, or replay legs) regardless of pause and time."""
        for _ in range(max(0, n)):
            if self.candles:
                self._t += self.candle_ms / 3
                self.price = self._replay_price()
            else:
                self._walk_once()
        return self.price

    # -- time ----------------------------------------------------------------------------------
    def advance(self, now_ms: int) -> Decimal | None:
        """Move the path to ``now_ms``; return the new price if it changed, else None."""
        elapsed = max(0, now_ms - self._last_ms) * self.speed
        self._last_ms = now_ms
        if self.paused or elapsed <= 0:
            return None
        before = self.price
        if self.candles:
            self._t += elapsed
            self.price = self._replay_price()
        else:
            self._t += elapsed
            steps = int(self._t // WALK_STEP_MS)
            self._t -= steps * WALK_STEP_MS
            for _ in range(min(steps, 10_000)):
                self._walk_once()
        return self.price if self.price != before else None

    def _walk_once(self) -> None:
        self._walk *= math.exp(self._rng.gauss(0.0, WALK_SIGMA))
        self.price = max(self.tick, on_tick(Decimal(repr(self._walk)), self.tick))

    def _replay_price(self) -> Decimal:
        assert self.candles
        total = self.candle_ms * len(self.candles)
        t = self._t % total  # the replay loops at the end of the file
        idx = int(t // self.candle_ms)
        frac = (t - idx * self.candle_ms) / self.candle_ms
        pts = self.candles[idx].waypoints()
        leg = min(2, int(frac * 3))
        within = Decimal(repr(frac * 3 - leg))
        a, b = pts[leg], pts[leg + 1]
        return on_tick(a + (b - a) * within, self.tick)
