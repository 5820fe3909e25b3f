"""The depth book: finite, seeded price levels around the path's last price (``--book depth``).

Pure: no I/O, no clock. Each side is a ladder of levels generated lazily, shaped after two real
BTCUSDT production samples (a ``depth5@100ms`` frame of 2026-02-16 and a ``GET /fapi/v1/depth?limit=5``
answer of 2026-09-15):

* the touch holds most of the nearby size: 0.8-6 BTC (median about 2.2 BTC, log-normal);
* the next levels are thin: 0.001-0.2 BTC (median about 0.01 BTC), and about one tick in five is
  empty (76915.20 then 76915.40; 68004.70 then 68004.50);
* further out size grows, with a wall every ten levels or so, and a last backstop level larger than
  the largest MARKET order (``MARKET_LOT_SIZE maxQty``), so a MARKET order always fills.

Sizes are drawn in BTC-at-76915-USDT notional and converted to each symbol's quantity, so ETH and SOL
books are as deep in money as BTC's. The spread is one tick (best bid = last, best ask = last + tick),
as in both samples. What our orders take stays taken until the price moves; a price move redraws the
book around the new last price (the market refills).
"""

from __future__ import annotations

import math
import random
from decimal import ROUND_DOWN, Decimal

from traytrader.sim.market import SymbolSpec

ZERO = Decimal(0)
#: USDT notional of one "BTC" of size (the BTC start price).
REF_NOTIONAL = 76915.0
TOUCH_MEDIAN_BTC, TOUCH_SIGMA = 2.2, 0.6
THIN_MEDIAN_BTC, THIN_SIGMA = 0.01, 1.3
EMPTY_TICK = 0.2
WALL_EVERY, WALL_MEDIAN_BTC = 10, 1.5
LEVELS = 100  # generated per side at most; the last is the backstop
MAX_SHOWN = 1000


class DepthBook:
    """One symbol's book. ``take`` consumes levels as a taker would and returns the fills."""

    def __init__(self, spec: SymbolSpec, seed: int, last: Decimal) -> None:
        self.spec = spec
        self._rng = random.Random(seed)
        self._last = last
        self._sides: dict[str, list[list[Decimal]]] = {}

    # -- shape -------------------------------------------------------------------------------
    def move(self, last: Decimal) -> None:
        """The price moved: the book is redrawn around ``last`` when next looked at."""
        if last != self._last:
            self._last = last
            self._sides.clear()

    def _qty(self, btc: float, price: Decimal) -> Decimal:
        step = self.spec.step_size
        units = btc * REF_NOTIONAL / float(price) / float(step)
        return max(1, int(units)) * step

    def _draw(self, side: str) -> list[list[Decimal]]:
        """One side's ladder: [[price, qty], …] from the touch outwards."""
        rng, tick = self._rng, self.spec.tick_size
        sign = 1 if side == "asks" else -1
        price = self._last + tick if side == "asks" else self._last
        out: list[list[Decimal]] = []
        for i in range(LEVELS):
            if i == 0:
                btc = TOUCH_MEDIAN_BTC * math.exp(rng.gauss(0, TOUCH_SIGMA))
            elif i == LEVELS - 1:
                btc = float(self.spec.market_max_qty) * 2 * float(self._ref_btc())
            elif i % WALL_EVERY == 0:
                btc = WALL_MEDIAN_BTC * math.exp(rng.gauss(0, 0.5))
            else:
                btc = THIN_MEDIAN_BTC * (1 + i / 8) * math.exp(rng.gauss(0, THIN_SIGMA))
            if price > 0:
                out.append([price, self._qty(btc, price)])
            price += sign * tick
            while i and rng.random() < EMPTY_TICK:  # empty ticks between levels
                price += sign * tick
        return out

    def _ref_btc(self) -> Decimal:
        """How many "BTC" of size one unit of this symbol is worth (for the backstop)."""
        return self._last / Decimal(str(REF_NOTIONAL))

    def side(self, name: str) -> list[list[Decimal]]:
        levels = self._sides.get(name)
        if levels is None:
            levels = self._sides[name] = self._draw(name)
        return levels

    # -- reads -------------------------------------------------------------------------------
    def levels(self, name: str, limit: int) -> list[tuple[Decimal, Decimal]]:
        return [(p, q) for p, q in self.side(name)[: min(limit, MAX_SHOWN)] if q > 0]

    def best(self, name: str) -> tuple[Decimal, Decimal]:
        for p, q in self.side(name):
            if q > 0:
                return p, q
        return self._last, ZERO

    def available(self, taker_side: str, limit: Decimal | None) -> Decimal:
        """How much a taker on ``taker_side`` could fill at ``limit`` or better."""
        total = ZERO
        for p, q in self.side("asks" if taker_side == "BUY" else "bids"):
            if limit is not None and (p > limit if taker_side == "BUY" else p < limit):
                break
            total += q
        return total

    # -- matching ----------------------------------------------------------------------------
    def take(self, taker_side: str, qty: Decimal, limit: Decimal | None) -> list[tuple[Decimal, Decimal]]:
        """Consume up to ``qty`` from the opposite side, best price first, never past ``limit``;
        return one (price, quantity) per level touched."""
        fills: list[tuple[Decimal, Decimal]] = []
        left = qty
        for level in self.side("asks" if taker_side == "BUY" else "bids"):
            if left <= 0:
                break
            p, q = level
            if limit is not None and (p > limit if taker_side == "BUY" else p < limit):
                break
            if q <= 0:
                continue
            n = min(q, left)
            level[1] = q - n
            left -= n
            fills.append((p, n))
        return fills

    def piece(self, remaining: Decimal) -> Decimal:
        """How much of a resting order the market fills when it trades AT its price (not through):
        a seeded quarter to three quarters of what remains, whole steps, at least one step."""
        step = self.spec.step_size
        frac = Decimal(repr(self._rng.uniform(0.25, 0.75)))
        n = (remaining * frac / step).quantize(Decimal(1), rounding=ROUND_DOWN) * step
        return min(remaining, max(step, n))
