"""Positions as the engine knows them: loaded at warm-up, moved by fills at once, and made
authoritative by the exchange's ACCOUNT_UPDATE.

A fill is applied as soon as any source reports it (the ``order.place`` RESULT, an ORDER_TRADE_UPDATE,
an ``order.status`` answer), so that a "close" pressed right after a "buy" knows the size before the
user stream catches up, and a REVERSE's second order shows at once even in the millisecond of the
first. Each fill counts once: reports are turned into increments by order identity and cumulative
filled quantity (``OrderFills``), and increments are reconciled with ACCOUNT_UPDATE's absolute amounts
by time and, within one millisecond, by amount (``PositionLedger``; the reasoning is in that module).
An ACCOUNT_UPDATE delivered twice (two connections overlapping on a rollover) is applied once.

``updated_ms`` holds exchange transaction times only (never our own clock, which is offset by a
measured amount that changes on every resync). Exchange times can still jump back (the
exchange's clock moved). A fill of ours that looks older than the last update while the
position is flat is not applied (it may be one that update already counted and a later close
undid) but remembered: the next opening in its direction is ours, so the ASL protects it (F12).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from traytrader.core.models import PositionSide, Side
from traytrader.engine.position_ledger import OrderFills, PositionLedger

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

    RECENT_UPDATES = 64                 # ACCOUNT_UPDATE fingerprints kept to drop repeats

    def __init__(self) -> None:
        self._positions: dict[tuple[str, PositionSide], Position] = {}
        self._ledgers: dict[tuple[str, PositionSide], PositionLedger] = {}
        self._orders = OrderFills()
        self._recent: deque[str] = deque()
        self._recent_set: set[str] = set()
        self.marks: dict[str, Decimal] = {}

    def get(self, symbol: str, position_side: PositionSide = PositionSide.BOTH) -> Position:
        key = (symbol, position_side)
        position = self._positions.get(key)
        if position is None:
            position = self._positions[key] = Position(symbol, position_side)
            self._ledgers[key] = PositionLedger()
        return position

    def _ledger(self, position: Position) -> PositionLedger:
        return self._ledgers[(position.symbol, position.position_side)]

    def confirmed_quantity(self, symbol: str, position_side: PositionSide = PositionSide.BOTH) -> Decimal:
        """The amount of the exchange's last absolute word (ACCOUNT_UPDATE or load), without the
        fills reported since."""
        return self._ledger(self.get(symbol, position_side)).base

    def open_positions(self, symbol: str | None = None) -> list[Position]:
        return [p for p in self._positions.values()
                if p.quantity != 0 and (symbol is None or p.symbol == symbol)]

    def positions_of(self, symbol: str) -> list[Position]:
        """Every position row of ``symbol`` the tracker has (flat ones too)."""
        return [p for p in self._positions.values() if p.symbol == symbol]

    def all(self) -> list[Position]:
        return list(self._positions.values())

    def load(self, rows: Any, now_ms: int) -> list[Position]:
        """Warm-up/recovery from ``account.position`` / ``positionRisk`` rows (``positionAmt``,
        ``entryPrice``, ``positionSide``, ``unRealizedProfit``). Positions not listed are flat.

        All or nothing: a response that is not a list of well-formed rows raises ``ValueError``
        and changes nothing (a garbled answer must never flatten a real position). ``now_ms`` is
        not stored: ``updated_ms`` holds exchange times only (see the module docstring). A row
        whose ``updateTime`` is older than what the streams already told of that position (an
        update or a fill that came while the snapshot was on its way) leaves that position as
        it is: the snapshot is stale there, and applying it would undo a fill."""
        if not isinstance(rows, list):
            raise ValueError("the position list is not a list")
        parsed = []
        for row in rows:
            valid = _row(row.get("symbol"), row.get("positionSide", "BOTH"), row.get("positionAmt"),
                         row.get("entryPrice"), row.get("unRealizedProfit", row.get("unrealizedProfit"))) \
                if isinstance(row, Mapping) else None
            if valid is None:
                raise ValueError(f"a malformed position row: {str(row)[:80]}")
            stamp = row.get("updateTime")
            parsed.append((*valid, stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else 0))
        seen = set()
        for symbol, side, quantity, entry, pnl, updated_ms in parsed:
            position = self.get(symbol, side)
            seen.add((symbol, side))
            ledger = self._ledger(position)
            if updated_ms and updated_ms < ledger.newest_ms(position.updated_ms):
                continue   # older than what the streams already said: the snapshot is stale here
            ledger.reset(quantity, entry, updated_ms)
            position.quantity, position.entry_price, position.unrealized_pnl = quantity, entry, pnl
            if quantity == 0:
                position.ours = False
            position.pending_ours = 0
        for key, position in self._positions.items():
            if key not in seen:
                self._ledgers[key].reset(ZERO, ZERO)
                position.quantity, position.entry_price = ZERO, ZERO
                position.ours = False
        return self.open_positions()

    def on_account_update(self, event: Mapping[str, Any]) -> list[Position]:
        """Apply an ACCOUNT_UPDATE; returns the positions it changed. Malformed rows are skipped;
        an update seen moments ago (byte for byte) is not applied again."""
        account = event.get("a")
        rows = account.get("P") if isinstance(account, Mapping) else None
        if not isinstance(rows, list):
            return []
        try:
            fingerprint = json.dumps([event.get("E"), event.get("T"), account], sort_keys=True, default=str)
        except (TypeError, ValueError):
            fingerprint = None
        if fingerprint is not None:
            if fingerprint in self._recent_set:
                return []
            self._recent.append(fingerprint)
            self._recent_set.add(fingerprint)
            if len(self._recent) > self.RECENT_UPDATES:
                self._recent_set.discard(self._recent.popleft())
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
            ledger = self._ledger(position)
            ledger.absolute(quantity, entry, at_ms)
            position.quantity, position.entry_price = ledger.view()
            position.unrealized_pnl = pnl
            if ledger.pending:
                self._revalue(position)
            position.updated_ms = at_ms or position.updated_ms   # the exchange's latest word
            if position.quantity == 0:
                position.ours = False
            elif position.pending_ours and (position.quantity > 0) == (position.pending_ours > 0):
                position.ours = True
                position.pending_ours = 0
            changed.append(position)
        return changed

    def apply_fill(self, symbol: str, position_side: PositionSide, side: Side, quantity: Decimal,
                   price: Decimal, at_ms: int, *, ours: bool = True, order_id: int | str | None = None,
                   client_order_id: str | None = None) -> Position | None:
        """Apply a fill reported by an order's answer (RESULT or ``order.status``); returns the
        position when the shown amount moved, None when the fill was known or already inside the
        last ACCOUNT_UPDATE.

        With ``order_id`` or ``client_order_id``, ``quantity`` is the order's cumulative filled
        quantity (``executedQty``) and ``price`` its average: the same fill reported again, or
        by the user stream, counts once. Without either, ``quantity`` is one fill of its own."""
        position = self.get(symbol, position_side)
        if quantity <= 0:
            return None
        part = self._orders.increment(symbol, order_id, client_order_id, quantity, price)
        return self._apply(position, side, part, at_ms, ours)

    def on_order_update(self, event: Mapping[str, Any], *, ours: bool = False) -> Position | None:
        """Apply an ORDER_TRADE_UPDATE's fill (any execution type: ``z`` is what counts, so
        TRADE and a liquidation's CALCULATED alike); returns the position when the shown amount
        moved. ``ours`` marks an opening fill as traytrader's (the RESULT that follows does too)."""
        order = event.get("o")
        if not isinstance(order, Mapping):
            return None
        symbol, filled = order.get("s"), sane_decimal(order.get("z"))
        position_side = _side(order.get("ps", "BOTH"))
        try:
            side = Side(str(order.get("S")))
        except ValueError:
            return None
        if not isinstance(symbol, str) or not symbol or position_side is None or filled is None \
                or filled <= 0:
            return None
        average = sane_decimal(order.get("ap"), ZERO) or sane_decimal(order.get("L"), ZERO) or ZERO
        stamp = order.get("T") or event.get("T") or event.get("E") or 0
        at_ms = stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else 0
        position = self.get(symbol, position_side)
        part = self._orders.increment(symbol, order.get("i"), order.get("c"), filled, max(average, ZERO))
        return self._apply(position, side, part, at_ms, ours and order.get("R") is not True)

    def _apply(self, position: Position, side: Side, part: tuple[Decimal, Decimal] | None, at_ms: int,
               ours: bool) -> Position | None:
        ledger = self._ledger(position)
        if part is None or not ledger.fill(part[0] if side is Side.BUY else -part[0], part[1], at_ms):
            # Known already, or inside the last ACCOUNT_UPDATE (or the exchange's clock went
            # back); the position is ours when this fill opened or added to it (the ASL protects
            # only ours), now or at the next opening in its direction.
            if ours and position.quantity == 0:
                position.pending_ours = 1 if side is Side.BUY else -1
            elif ours and (position.quantity > 0) == (side is Side.BUY):
                position.ours = True
            return None
        position.pending_ours = 0
        old = position.quantity
        position.quantity, position.entry_price = ledger.view()
        new = position.quantity
        if new == 0:
            position.ours = False
        elif old == 0 or (old > 0) == (new > old):
            position.ours = position.ours or ours          # opening or adding
        elif (new > 0) != (old > 0):
            position.ours = ours                           # reversed through zero
        self._revalue(position)
        return position

    def _revalue(self, position: Position) -> None:
        mark = self.marks.get(position.symbol)
        if mark is not None:
            position.unrealized_pnl = position.pnl_at(mark)

    def on_mark(self, symbol: str, mark: Decimal) -> None:
        self.marks[symbol] = mark
        for position in self._positions.values():
            if position.symbol == symbol and position.quantity:
                position.unrealized_pnl = position.pnl_at(mark)
