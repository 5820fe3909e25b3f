"""Positions as the engine knows them: loaded at warm-up, moved by our fills at once, and made
authoritative by the exchange's ACCOUNT_UPDATE.

A fill from an ``order.place`` RESULT is applied immediately so that a "close" pressed right after
a "buy" knows the size before the user stream catches up. ACCOUNT_UPDATE carries absolute values
(``pa`` signed amount, ``ep`` entry price); a fill whose ``updateTime`` is not newer than the last
ACCOUNT_UPDATE applied to that position is already included there and is skipped, so the two
sources never double-count.

``updated_ms`` holds exchange transaction times only (never our own clock, which is offset by a
measured amount that changes on every resync). Exchange times can still jump back (the
exchange's clock moved). A fill of ours that looks older than the last update while the
position is flat is not applied (it may be one that update already counted and a later close
undid) but remembered: the next opening in its direction is ours, so the ASL protects it (F12).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from traytrader.core.models import PositionSide, Side

ZERO = Decimal(0)
# Anything at or beyond this is not a position size, price or PnL but garbage.
SANE_LIMIT = Decimal("1e12")


def sane_decimal(value: Any, default: Decimal | None = None) -> Decimal | None:
    """``value`` (a JSON string or int) as a finite Decimal of sane size, else ``default``."""
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and abs(number) < SANE_LIMIT else None


def _side(value: Any) -> PositionSide | None:
    try:
        return PositionSide(str(value if value is not None else "BOTH"))
    except ValueError:
        return None


def _row(symbol: Any, side: Any, amount: Any, entry: Any, pnl: Any) -> tuple[str, PositionSide, Decimal,
                                                                             Decimal, Decimal] | None:
    """A validated position row, or None when any field is malformed (then nothing changes)."""
    position_side = _side(side)
    quantity = sane_decimal(amount)
    entry_price = sane_decimal(entry, ZERO)
    unrealized = sane_decimal(pnl, ZERO)
    if not isinstance(symbol, str) or not symbol or position_side is None or quantity is None \
            or entry_price is None or entry_price < 0 or unrealized is None:
        return None
    return symbol, position_side, quantity, entry_price, unrealized


@dataclass
class Position:
    symbol: str
    position_side: PositionSide
    quantity: Decimal = ZERO          # signed: > 0 long, < 0 short
    entry_price: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO
    updated_ms: int = 0               # exchange transaction time of the last absolute update
    ours: bool = False                # opened (or added to) by traytrader
    pending_ours: int = 0             # +1/-1: the next opening in that direction is ours

    def pnl_at(self, mark: Decimal) -> Decimal:
        return (mark - self.entry_price) * self.quantity if self.quantity else ZERO


class PositionTracker:
    """Keyed by ``(symbol, position_side)``; one-way mode uses ``BOTH``."""

    def __init__(self) -> None:
        self._positions: dict[tuple[str, PositionSide], Position] = {}
        self.marks: dict[str, Decimal] = {}

    def get(self, symbol: str, position_side: PositionSide = PositionSide.BOTH) -> Position:
        key = (symbol, position_side)
        position = self._positions.get(key)
        if position is None:
            position = self._positions[key] = Position(symbol, position_side)
        return position

    def open_positions(self, symbol: str | None = None) -> list[Position]:
        return [p for p in self._positions.values()
                if p.quantity != 0 and (symbol is None or p.symbol == symbol)]

    def all(self) -> list[Position]:
        return list(self._positions.values())

    def load(self, rows: Any, now_ms: int) -> list[Position]:
        """Warm-up/recovery from ``account.position`` / ``positionRisk`` rows (``positionAmt``,
        ``entryPrice``, ``positionSide``, ``unRealizedProfit``). Positions not listed are flat.

        All or nothing: a response that is not a list of well-formed rows raises ``ValueError``
        and changes nothing (a garbled answer must never flatten a real position). ``now_ms`` is
        not stored: ``updated_ms`` holds exchange times only (see the module docstring)."""
        if not isinstance(rows, list):
            raise ValueError("the position list is not a list")
        parsed = []
        for row in rows:
            valid = _row(row.get("symbol"), row.get("positionSide", "BOTH"), row.get("positionAmt"),
                         row.get("entryPrice"), row.get("unRealizedProfit", row.get("unrealizedProfit"))) \
                if isinstance(row, Mapping) else None
            if valid is None:
                raise ValueError(f"a malformed position row: {str(row)[:80]}")
            parsed.append(valid)
        seen = set()
        for symbol, side, quantity, entry, pnl in parsed:
            position = self.get(symbol, side)
            position.quantity, position.entry_price, position.unrealized_pnl = quantity, entry, pnl
            if quantity == 0:
                position.ours = False
            position.pending_ours = 0
            seen.add((symbol, side))
        for key, position in self._positions.items():
            if key not in seen:
                position.quantity = ZERO
                position.ours = False
        return self.open_positions()

    def on_account_update(self, event: Mapping[str, Any]) -> list[Position]:
        """Apply an ACCOUNT_UPDATE; returns the positions it changed. Malformed rows are skipped."""
        account = event.get("a")
        rows = account.get("P") if isinstance(account, Mapping) else None
        if not isinstance(rows, list):
            return []
        stamp = event.get("T") or event.get("E") or 0
        at_ms = stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else 0
        changed = []
        for row in rows:
            valid = _row(row.get("s"), row.get("ps", "BOTH"), row.get("pa"), row.get("ep"), row.get("up")) \
                if isinstance(row, Mapping) else None
            if valid is None:
                continue
            symbol, side, quantity, entry, pnl = valid
            position = self.get(symbol, side)
            position.quantity, position.entry_price, position.unrealized_pnl = quantity, entry, pnl
            position.updated_ms = at_ms or position.updated_ms   # the exchange's latest word
            if position.quantity == 0:
                position.ours = False
            elif position.pending_ours and (position.quantity > 0) == (position.pending_ours > 0):
                position.ours = True
                position.pending_ours = 0
            changed.append(position)
        return changed

    def apply_fill(self, symbol: str, position_side: PositionSide, side: Side, quantity: Decimal,
                   price: Decimal, at_ms: int, *, ours: bool = True) -> Position | None:
        """Apply our own fill (from a RESULT response) unless an ACCOUNT_UPDATE already covered it."""
        position = self.get(symbol, position_side)
        if quantity <= 0:
            return None
        if at_ms and at_ms <= position.updated_ms:
            # Already counted by an ACCOUNT_UPDATE (pushed before the reply), or the exchange's
            # clock went back; the position is ours when this fill opened or added to it (the
            # ASL protects only ours), now or at the next opening in its direction.
            if ours and position.quantity == 0:
                position.pending_ours = 1 if side is Side.BUY else -1
            elif ours and (position.quantity > 0) == (side is Side.BUY):
                position.ours = True
            return None
        position.pending_ours = 0
        signed = quantity if side is Side.BUY else -quantity
        old = position.quantity
        new = old + signed
        if old == 0 or (old > 0) == (signed > 0):
            # Opening or adding: the entry is the quantity-weighted average.
            position.entry_price = (abs(old) * position.entry_price + quantity * price) / abs(new)
            position.ours = position.ours or ours
        elif new == 0:
            position.entry_price = ZERO
            position.ours = False
        elif (new > 0) != (old > 0):
            position.entry_price = price   # reversed through zero: the remainder opened at this price
            position.ours = ours
        position.quantity = new
        position.updated_ms = at_ms or position.updated_ms
        mark = self.marks.get(symbol)
        if mark is not None:
            position.unrealized_pnl = position.pnl_at(mark)
        return position

    def on_mark(self, symbol: str, mark: Decimal) -> None:
        self.marks[symbol] = mark
        for position in self._positions.values():
            if position.symbol == symbol and position.quantity:
                position.unrealized_pnl = position.pnl_at(mark)
