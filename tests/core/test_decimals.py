"""Decimal text and grid rounding: example tables plus properties."""

from __future__ import annotations

from decimal import Decimal as D
from decimal import InvalidOperation
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traytrader.core.decimals import (
    Direction,
    align,
    ceil_to_step,
    divide_ceil,
    divide_floor,
    floor_to_step,
    format_decimal,
    is_on_grid,
    multiply,
    round_to_tick,
)


@pytest.mark.parametrize(("value", "text"), [
    ("1E+1", "10"), ("0.00100", "0.001"), ("5.0", "5"), ("0", "0"), ("-0.000", "0"), ("0E-8", "0"),
    ("1E-10", "0.0000000001"), ("123456789.123456789", "123456789.123456789"), ("52000.00", "52000"),
    ("-1.50", "-1.5"), ("100", "100"), ("1.0E+3", "1000"), ("0.10000000", "0.1"), ("7E+2", "700"),
])
def test_format_decimal_table(value: str, text: str) -> None:
    assert format_decimal(D(value)) == text


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_format_decimal_refuses_non_finite(value: str) -> None:
    with pytest.raises(ValueError, match="finite"):
        format_decimal(D(value))


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_format_decimal_is_plain_and_exact(value: D) -> None:
    text = format_decimal(value)
    assert "E" not in text and "e" not in text
    assert D(text) == value
    if "." in text:
        assert not text.endswith("0")


@pytest.mark.parametrize(("value", "step", "base", "down", "up"), [
    ("0.0123", "0.001", "0", "0.012", "0.013"),
    ("0.012", "0.001", "0", "0.012", "0.012"),
    ("50000.019", "0.01", "556.72", "50000.01", "50000.02"),
    ("50000.05", "0.10", "556.80", "50000.0", "50000.1"),
    ("7.5", "1", "1", "7", "8"),
    ("-0.5", "1", "0", "-1", "0"),
    ("261.14", "0.10", "261.10", "261.10", "261.20"),
    ("0.0001575", "0.000001", "0.000157", "0.000157", "0.000158"),
    ("3", "0", "0", "3", "3"),  # a 0 step disables the grid, as on Binance
    ("1.05", "0.1", "0.05", "1.05", "1.05"),  # on the grid relative to an off-tick base
])
def test_align_table(value: str, step: str, base: str, down: str, up: str) -> None:
    assert floor_to_step(D(value), D(step), D(base)) == D(down)
    assert ceil_to_step(D(value), D(step), D(base)) == D(up)
    assert round_to_tick(D(value), D(step), Direction.DOWN, D(base)) == D(down)
    assert round_to_tick(D(value), D(step), Direction.UP, D(base)) == D(up)


def test_negative_step_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        align(D(1), D(-1), Direction.DOWN)


def test_grid_arithmetic_never_rounds_silently() -> None:
    with pytest.raises(InvalidOperation):
        floor_to_step(D("1E+70"), D("1E-10"))


steps = st.sampled_from([D("0.001"), D("0.01"), D("0.1"), D("1"), D("0.000001"), D("0.0010"), D("5"),
                         D("0.25")])
values = st.decimals(min_value=D("0"), max_value=D("1000000"), places=9)


@given(values, steps, st.sampled_from([D(0), D("0.001"), D("556.72")]))
def test_floor_and_ceil_properties(value: D, step: D, base: D) -> None:
    low = floor_to_step(value, step, base)
    high = ceil_to_step(value, step, base)
    assert low <= value <= high
    assert value - low < step and high - value < step
    assert is_on_grid(low, step, base) and is_on_grid(high, step, base)
    assert (low == high) == is_on_grid(value, step, base)


@given(st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=4),
       st.decimals(min_value=D("0.000001"), max_value=D("100000"), places=6))
def test_divisions_bracket_the_quotient(numerator: D, denominator: D) -> None:
    low = divide_floor(numerator, denominator)
    high = divide_ceil(numerator, denominator)
    assert low <= high
    exact = Fraction(numerator) / Fraction(denominator)
    assert Fraction(low) <= exact <= Fraction(high)
    # 60 significant digits: the two bounds differ by one unit in the 60th digit at most.
    assert Fraction(high) - Fraction(low) <= Fraction(10) ** (low.adjusted() - 59)


def test_multiply_is_exact() -> None:
    assert multiply(D("0.001"), D("50000.01")) == D("50.00001")


def test_zero_step_grid_check() -> None:
    assert is_on_grid(D("1.2345"), D(0))
    assert not is_on_grid(D("1.2345"), D("0.001"))
