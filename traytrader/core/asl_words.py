"""How the stop loss says what it did: prices and percentages the way a trader reads them."""

from __future__ import annotations

from decimal import Decimal

from traytrader.core.decimals import format_decimal


def price_text(value: Decimal | None) -> str:
    """``98000.00`` → ``98,000``; ``104523.1`` → ``104,523.1``."""
    if value is None:
        return "?"
    whole, _, fraction = format_decimal(value).partition(".")
    return f"{int(whole):,}" + (f".{fraction}" if fraction else "")


def pct_text(value: Decimal | None) -> str:
    return "?" if value is None else f"{format_decimal(value)}%"
