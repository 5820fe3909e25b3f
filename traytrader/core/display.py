"""How numbers read on screen: one format per kind of quantity, the same in every front end.

A trader compares the stop in a notification with the entry in the tooltip and the mark in the
console at a glance, so every place that shows a number calls this module (pure; no I/O):

* prices at the symbol's tick: ``price(Decimal("76936.1"), tick=Decimal("0.10"))`` → ``76,936.1``;
* quantities at the symbol's step: ``quantity(Decimal("0.0020"), step=Decimal("0.001"))`` → ``0.002``;
* money in USDT with two decimals and its unit: ``usdt(Decimal("3.1249"), signed=True)`` →
  ``+3.12 USDT``;
* thousands separators everywhere (``,``), decimal point ``.``, ASCII minus.

Without a tick or step (before the exchange info is loaded) a number shows the digits it has,
trailing zeros dropped, with the same separators. Wire text (what is signed and sent) never
comes from here: that is ``core.decimals.format_decimal``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

_CENT = Decimal("0.01")


def places(grid: Decimal | None) -> int | None:
    """Decimal places a tick or step implies: ``0.10`` → 1, ``0.001`` → 3, ``1`` and ``10`` → 0;
    ``None`` for no grid (None, zero, not finite)."""
    if grid is None or not grid.is_finite() or grid <= 0:
        return None
    exponent = grid.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    return max(0, -exponent)


def _grouped(value: Decimal, decimals: int | None) -> str:
    """``value`` with thousands separators, at ``decimals`` places (None: its own, trimmed)."""
    if not value.is_finite():
        return "?"
    if decimals is None:
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    else:
        try:
            text = format(value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN), "f")
        except InvalidOperation:   # more digits than the context holds: show what there is
            text = format(value, "f")
    negative = text.startswith("-")
    whole, dot, fraction = text.lstrip("-").partition(".")
    grouped = f"{int(whole):,}" + dot + fraction
    if negative and any(c not in "0.," for c in grouped):
        grouped = "-" + grouped        # never "-0.00"
    return grouped


def price(value: Decimal | None, tick: Decimal | None = None) -> str:
    """A price at the symbol's tick: ``76,936.1`` (tick 0.1), ``0.05112`` (tick 0.00001)."""
    return "?" if value is None else _grouped(value, places(tick))


def quantity(value: Decimal | None, step: Decimal | None = None) -> str:
    """A quantity at the symbol's step, its sign kept: ``0.002`` (step 0.001), ``1,500`` (step 1)."""
    return "?" if value is None else _grouped(value, places(step))


def usdt(value: Decimal | None, *, signed: bool = False, unit: bool = True) -> str:
    """Money: two decimals and the unit, ``+3.12 USDT`` with ``signed`` (gains get a ``+``)."""
    if value is None:
        return "?"
    text = _grouped(value, 2)
    if signed and value.quantize(_CENT, rounding=ROUND_HALF_EVEN) > 0:
        text = "+" + text
    return f"{text} USDT" if unit else text


def pct(value: Decimal | None) -> str:
    """A percentage as configured: ``1.5%``, ``2%``."""
    return "?" if value is None else f"{_grouped(value, None)}%"


def milliseconds(microseconds: float | None) -> str:
    """A latency: ``3.2 ms``; below a millisecond two decimals (``0.21 ms``); ``—`` when unknown."""
    if microseconds is None:
        return "—"
    ms = microseconds / 1000
    return f"{ms:.2f} ms" if ms < 1 else f"{ms:,.1f} ms"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 key``, ``2 keys``, ``0 positions`` (``many`` for irregular plurals)."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


def direction(signed_quantity: Decimal) -> str:
    """``long`` for a positive quantity, ``short`` for a negative one, ``flat`` for none."""
    return "long" if signed_quantity > 0 else "short" if signed_quantity < 0 else "flat"


# --- fitting text into a fixed width ----------------------------------------------------------

ELLIPSIS = "…"


def elide(segments: Sequence[tuple[str, int]], width: float,
          measure: Callable[[str], float] = len, separator: str = "  ") -> list[int]:
    """Which segments fit in ``width``, kept by priority rather than cut where the space ends.

    ``segments`` are ``(text, priority)`` in display order; a lower number is more important.
    Returns the indexes to show, in display order: the least important segments are dropped
    whole, one at a time (the later one first on a tie), until the rest, joined by ``separator``,
    measures at most ``width``. The most important segment is always kept (``shorten`` it if it
    alone is too wide). ``measure`` is a width function: ``len`` for characters, a Tk font's
    ``measure`` for pixels; each segment is measured on its own (it may have its own font), plus
    one ``separator`` between two.
    """
    kept = [i for i, (text, _) in enumerate(segments) if text]
    if not kept:
        return []
    gap = measure(separator)

    def total(indexes: list[int]) -> float:
        return sum(measure(segments[i][0]) for i in indexes) + gap * (len(indexes) - 1)

    while len(kept) > 1 and total(kept) > width:
        worst = max(kept, key=lambda i: (segments[i][1], i))
        kept.remove(worst)
    return kept


def shorten(text: str, width: float, measure: Callable[[str], float] = len) -> str:
    """``text`` cut at a word boundary with ``…`` so it measures at most ``width``; never mid-word
    (a first word too wide on its own is the one exception: it is cut, so something shows)."""
    if measure(text) <= width:
        return text
    words = text.split(" ")
    while len(words) > 1:
        words.pop()
        candidate = " ".join(words).rstrip(" ·,:;-") + ELLIPSIS
        if measure(candidate) <= width:
            return candidate
    word = words[0]
    while word and measure(word + ELLIPSIS) > width:
        word = word[:-1]
    return word + ELLIPSIS if word else ""
