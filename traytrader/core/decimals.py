"""Decimal text and grid rounding: how prices and quantities become the strings Binance receives.

Binance reads DECIMAL parameters as JSON strings and we sign the exact string we send, so the
text must be canonical: never exponent notation (``str(Decimal("1E+1"))`` is ``"1E+1"``), no
trailing zeros. Rounding onto a tick or step grid always takes an explicit direction; the caller
decides which way is safe (a buy limit rounds down, a sell limit up, a quantity always down).

Grid arithmetic runs in a private context that traps ``Inexact``: a grid result is either exact
or an error, never silently rounded by Python's 28-digit default context.
"""

from __future__ import annotations

from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from enum import StrEnum

_ZERO = Decimal(0)

# Exact arithmetic for grid alignment: 60 digits is far beyond any price or quantity Binance
# lists (at most ~20 significant digits), and Inexact is trapped so nothing is rounded silently.
_EXACT = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
_DIV_FLOOR = Context(prec=60, rounding=ROUND_FLOOR, traps=[InvalidOperation, DivisionByZero, Overflow])
_DIV_CEIL = Context(prec=60, rounding=ROUND_CEILING, traps=[InvalidOperation, DivisionByZero, Overflow])


class Direction(StrEnum):
    """Which way a value moves when it is not on the grid."""

    DOWN = "down"  # towards -infinity
    UP = "up"      # towards +infinity


def format_decimal(value: Decimal) -> str:
    """The canonical wire text of ``value``: plain notation, no trailing zeros, ``-0`` as ``0``.

    ``Decimal("1E+1")`` → ``"10"``; ``Decimal("0.00100")`` → ``"0.001"``; ``Decimal("5.0")`` → ``"5"``.
    Raises ``ValueError`` for NaN and infinities, which are never a valid price or quantity.
    """
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number.")
    text = format(value, "f")  # exact, no context rounding, never exponent notation
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":
        return "0"
    return text


def is_on_grid(value: Decimal, step: Decimal, base: Decimal = _ZERO) -> bool:
    """True when ``value - base`` is a whole multiple of ``step`` (a ``step`` of 0 means no grid)."""
    if step == 0:
        return True
    return _EXACT.remainder(_EXACT.subtract(value, base), step) == 0


def align(value: Decimal, step: Decimal, direction: Direction, base: Decimal = _ZERO) -> Decimal:
    """Move ``value`` onto the grid ``base + k*step`` in ``direction`` (unchanged if already on it).

    Binance defines the grids relative to the filter's minimum: ``(price - minPrice) % tickSize
    == 0`` and ``(quantity - minQty) % stepSize == 0`` (common-definition.md), hence ``base``.
    A ``step`` of 0 disables the rule, as it does on Binance. ``step`` must not be negative.
    """
    if step < 0:
        raise ValueError(f"A grid step of {step} is negative.")
    if step == 0:
        return value
    offset = _EXACT.subtract(value, base)
    remainder = _EXACT.remainder(offset, step)  # sign follows ``offset`` (truncating division)
    if remainder == 0:
        return value
    if direction is Direction.DOWN:
        if remainder < 0:
            remainder = _EXACT.add(remainder, step)
        return _EXACT.subtract(value, remainder)
    if remainder > 0:
        remainder = _EXACT.subtract(remainder, step)
    return _EXACT.subtract(value, remainder)


def floor_to_step(value: Decimal, step: Decimal, base: Decimal = _ZERO) -> Decimal:
    """The largest grid value not above ``value``: how every quantity is rounded."""
    return align(value, step, Direction.DOWN, base)


def ceil_to_step(value: Decimal, step: Decimal, base: Decimal = _ZERO) -> Decimal:
    """The smallest grid value not below ``value``."""
    return align(value, step, Direction.UP, base)


def round_to_tick(price: Decimal, tick: Decimal, direction: Direction, base: Decimal = _ZERO) -> Decimal:
    """``price`` on the tick grid, moved in the direction the caller has decided is safe."""
    return align(price, tick, direction, base)


def divide_floor(numerator: Decimal, denominator: Decimal) -> Decimal:
    """``numerator / denominator`` rounded towards -infinity, so a size computed from a notional
    never exceeds it (Python's default context would round half-even, sometimes upwards)."""
    return _DIV_FLOOR.divide(numerator, denominator)


def divide_ceil(numerator: Decimal, denominator: Decimal) -> Decimal:
    """``numerator / denominator`` rounded towards +infinity (for "at least" bounds)."""
    return _DIV_CEIL.divide(numerator, denominator)


def multiply(a: Decimal, b: Decimal) -> Decimal:
    """The exact product (prices × quantities stay far below 60 digits)."""
    return _EXACT.multiply(a, b)
