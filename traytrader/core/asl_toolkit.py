"""The trader's toolkit as pure rules: breakeven level, partial-close size, risk-based size,
take-profit levels. No I/O, no clock; the dispatcher (``engine/dispatch.py``) and the ladder
(``core/asl.py``) call them.

Every rule rounds in the direction that keeps the promise:

* a breakeven stop rounds *away from the entry* (a long's up, a short's down), so a stop-out at that
  level loses nothing, fees included;
* a partial close and a risk-based size round the quantity *down* to the step (never more than
  asked, never more risk than accepted);
* a take-profit trigger rounds *away from the entry* too (never takes less profit than configured).

Refusals are ``CommandRefused`` with one sentence that says what would work instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from traytrader.core import display
from traytrader.core.decimals import Direction, floor_to_step, format_decimal, round_to_tick
from traytrader.core.errors import CommandRefused
from traytrader.core.filters import SymbolFilters
from traytrader.core.models import OrderType, TakeProfit

#: Binance USDⓈ-M regular-user taker fee (0.05 %), used until a fill of ours tells the account's.
DEFAULT_TAKER_FEE_RATE = Decimal("0.0005")
_HUNDRED = Decimal(100)
_ZERO = Decimal(0)
_CENT = Decimal("0.01")


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


# --- breakeven ------------------------------------------------------------------------------------


def breakeven_price(quantity: Decimal, entry: Decimal, fees_paid: Decimal, fee_rate: Decimal,
                    tick: Decimal) -> Decimal:
    """The stop price at which closing the signed ``quantity`` (> 0 long) loses nothing: the
    entry plus ``fees_paid`` (USDT, the fills so far) plus the taker fee to close at that price.

    Solves ``d·(P − entry)·q − fees_paid − fee_rate·P·q = 0`` for ``P`` (``q = |quantity|``) and
    rounds away from the entry to ``tick``."""
    d = _sign(quantity)
    if d == 0 or entry <= 0:
        raise CommandRefused("There is no position to move to breakeven.")
    q = abs(quantity)
    if d > 0:
        raw = (entry * q + fees_paid) / (q * (1 - fee_rate))
        return round_to_tick(raw, tick, Direction.UP).quantize(tick)
    raw = (entry * q - fees_paid) / (q * (1 + fee_rate))
    return round_to_tick(raw, tick, Direction.DOWN).quantize(tick)


def breakeven_refusal(quantity: Decimal, level: Decimal, mark: Decimal | None,
                      current_stop: Decimal | None, tick: Decimal | None = None) -> str | None:
    """Why a breakeven stop at ``level`` cannot go in now (None: it can). A stop at breakeven needs
    the price beyond that level (else it would fire at once) and must beat the current stop."""
    d = _sign(quantity)
    side = "long" if d > 0 else "short"
    if mark is None:
        return "Breakeven refused: there is no mark price yet; nothing was changed."
    if d * (mark - level) <= 0:
        return (f"Breakeven refused: the mark price {display.price(mark, tick)} is not yet "
                f"{'above' if d > 0 else 'below'} the {side}'s breakeven level {display.price(level, tick)} "
                "(entry plus fees); the stop stays where it is.")
    if current_stop is not None and d * (current_stop - level) >= 0:
        return (f"Breakeven refused: the current stop at {display.price(current_stop, tick)} is already at "
                f"or better than breakeven ({display.price(level, tick)}); it stays where it is.")
    return None


# --- partial close --------------------------------------------------------------------------------


def parse_fraction(text: str) -> Decimal:
    """``"50%"``, ``"50"`` or ``"0.5"`` → ``Decimal("0.5")``; a fraction in (0, 1]. Percent when
    the text ends with % or is above 1."""
    raw = text.strip().rstrip("%").strip()
    try:
        value = Decimal(raw)
    except ArithmeticError:
        value = Decimal("NaN")
    if not value.is_finite():
        raise CommandRefused(f"{text!r} is not a percentage; write it as 50% (or 0.5).")
    if text.strip().endswith("%") or value > 1:
        value = value / _HUNDRED
    if not _ZERO < value <= 1:
        raise CommandRefused(f"{text!r} is not a part of the position; give a percentage above 0 and at most "
                             "100%.")
    return value


def fraction_text(fraction: Decimal) -> str:
    return f"{format_decimal((fraction * _HUNDRED).normalize())}%"


@dataclass(frozen=True, slots=True)
class PartialClose:
    quantity: Decimal    # unsigned, on the step
    remainder: Decimal   # unsigned


def partial_close_quantity(position_qty: Decimal, fraction: Decimal, filters: SymbolFilters,
                           price: Decimal) -> PartialClose:
    """``fraction`` of the signed position, rounded down to the MARKET step. Refused (one sentence,
    offering the whole close) when the part is below the minimum or the remainder would be below the
    minimum quantity or notional at ``price``. A fraction of 1 is the whole position."""
    size = abs(position_qty)
    symbol = filters.symbol
    lot = filters.lot_for(OrderType.MARKET)
    if fraction >= 1:
        return PartialClose(size, _ZERO)
    part = floor_to_step(size * fraction, lot.step_size, lot.min_qty) if size * fraction >= lot.min_qty \
        else _ZERO
    whole = "close the whole position instead (close, or close 100%)"
    if part <= 0 or part < lot.min_qty:
        raise CommandRefused(f"Refused: {fraction_text(fraction)} of {display.quantity(size, lot.step_size)} "
                             f"{symbol} is below the minimum quantity of "
                             f"{display.quantity(lot.min_qty, lot.step_size)}; {whole}.")
    remainder = size - part
    if remainder < lot.min_qty:
        raise CommandRefused(f"Refused: closing {display.quantity(part, lot.step_size)} would leave "
                             f"{display.quantity(remainder, lot.step_size)} {symbol}, below the minimum "
                             f"quantity of {display.quantity(lot.min_qty, lot.step_size)}; {whole}.")
    minimum = filters.min_notional
    if minimum is not None and remainder * price < minimum:
        raise CommandRefused(f"Refused: closing {display.quantity(part, lot.step_size)} would leave "
                             f"{display.quantity(remainder, lot.step_size)} {symbol} (about "
                             f"{display.usdt(remainder * price)}), below the minimum notional of "
                             f"{display.usdt(minimum)}; {whole}.")
    return PartialClose(part, remainder)


def add_quantity(position_qty: Decimal, fraction: Decimal, filters: SymbolFilters) -> Decimal:
    """``fraction`` of the position to add, rounded down to the MARKET step (0 when below the
    minimum: the caller says so)."""
    lot = filters.lot_for(OrderType.MARKET)
    raw = abs(position_qty) * fraction
    if raw < lot.min_qty:
        return _ZERO
    quantity = floor_to_step(raw, lot.step_size, lot.min_qty)
    if lot.max_qty and quantity > lot.max_qty:
        quantity = floor_to_step(lot.max_qty, lot.step_size, lot.min_qty)
    return quantity


# --- risk-based size ------------------------------------------------------------------------------


def risk_amount(risk_usdt: Decimal | None, risk_pct: Decimal | None, wallet: Decimal | None) -> Decimal:
    """The USDT a profile accepts to lose at its hard stop: ``risk_usdt``, or ``risk_pct`` of the
    wallet balance (refused while the balance is not known)."""
    if risk_usdt is not None:
        return risk_usdt
    if risk_pct is None:
        raise CommandRefused("The profile sets neither risk_usdt nor risk_pct.")
    if wallet is None or wallet <= 0:
        raise CommandRefused("risk_pct needs the wallet balance, which is not known yet; "
                             "try again in a moment.")
    return wallet * risk_pct / _HUNDRED


def risk_notional(risk: Decimal, hard_stop_pct: Decimal, max_notional: Decimal) -> Decimal:
    """The notional whose hard-stop loss is ``risk``: ``risk ÷ hard-stop distance``, capped by
    ``[safety] max_notional_usdt``. (``quantity = risk ÷ (distance × price)``, so ``quantity × price``
    does not depend on the price.)"""
    if hard_stop_pct <= 0:
        raise CommandRefused("Risk-based sizing needs a hard stop above 0%.")
    return min(risk * _HUNDRED / hard_stop_pct, max_notional)


def risk_quantity(risk: Decimal, hard_stop_pct: Decimal, price: Decimal, filters: SymbolFilters,
                  max_notional: Decimal, order_type: OrderType = OrderType.MARKET) -> Decimal:
    """``risk ÷ (hard-stop distance × price)`` rounded down to the step, capped by
    ``max_notional``; refused below the minimum quantity or notional with the risk that would
    reach it."""
    lot = filters.lot_for(order_type)
    notional = risk_notional(risk, hard_stop_pct, max_notional)
    raw = notional / price
    quantity = floor_to_step(raw, lot.step_size, lot.min_qty) if raw >= lot.min_qty else _ZERO
    if lot.max_qty and quantity > lot.max_qty:
        quantity = floor_to_step(lot.max_qty, lot.step_size, lot.min_qty)
    minimum_qty = lot.min_qty
    if filters.min_notional is not None:
        step_ok = floor_to_step(filters.min_notional / price, lot.step_size, lot.min_qty)
        while step_ok * price < filters.min_notional:
            step_ok += lot.step_size
        minimum_qty = max(minimum_qty, step_ok)
    if quantity < minimum_qty or quantity <= 0:
        needed = (minimum_qty * price * hard_stop_pct / _HUNDRED).quantize(_CENT, rounding=ROUND_CEILING)
        raise CommandRefused(
            f"Refused: a risk of {display.usdt(risk)} at a {format_decimal(hard_stop_pct)}% hard stop sizes "
            f"{display.quantity(quantity, lot.step_size)} {filters.symbol}, below the minimum of "
            f"{display.quantity(minimum_qty, lot.step_size)}; a risk of at least {display.usdt(needed)} "
            "would reach it.")
    return quantity


# --- take-profit ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TakeProfitLevel:
    index: int             # 1-based, the config's order
    trigger: Decimal
    quantity: Decimal      # unsigned, on the step (0: below the minimum, not placed)


def take_profit_levels(quantity: Decimal, entry: Decimal, targets: tuple[TakeProfit, ...],
                       filters: SymbolFilters) -> tuple[TakeProfitLevel, ...]:
    """One level per target: trigger ``entry × (1 ± profit_pct/100)`` rounded away from the entry,
    quantity ``close_fraction`` of the position rounded down to the step; the fractions never close
    more than the position (the last level takes at most what is left)."""
    d = _sign(quantity)
    if d == 0 or entry <= 0:
        return ()
    size = abs(quantity)
    lot = filters.lot_for(OrderType.MARKET)
    tick = filters.tick_size
    left = size
    levels: list[TakeProfitLevel] = []
    for index, target in enumerate(targets, 1):
        raw_price = entry * (1 + d * target.profit_pct / _HUNDRED)
        trigger = round_to_tick(raw_price, tick, Direction.UP if d > 0 else Direction.DOWN)
        raw = min(size * target.close_fraction, left)
        part = floor_to_step(raw, lot.step_size, lot.min_qty) if raw >= lot.min_qty else _ZERO
        left -= part
        levels.append(TakeProfitLevel(index, trigger, part))
    return tuple(levels)
