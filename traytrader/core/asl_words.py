"""How the stop loss says what it did: prices and percentages the way a trader reads them."""

from __future__ import annotations

from decimal import Decimal

from traytrader.core import display


def price_text(value: Decimal | None, tick: Decimal | None = None) -> str:
    """``core.display.price``: ``75391.1`` → ``75,391.1``; at ``tick`` when given."""
    return display.price(value, tick)


def pct_text(value: Decimal | None) -> str:
    return display.pct(value)
