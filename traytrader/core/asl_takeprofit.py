"""Take-profits of one position as a pure state machine, beside its stop ladder (``core/asl.py``).

A profile's ``take_profit = [{ profit_pct = 2, close_fraction = 0.5 }, …]`` becomes one reduce-only
TAKE_PROFIT_MARKET algo order per level (``core.asl_toolkit.take_profit_levels``), client ids
``ttasl-p<level>-…`` (ours, never taken for a stop: ``core/asl.py`` reads only its own letters).

Rules:

* Placed only while the position has a confirmed stop (the stop first, the take-profits right
  after), and only for a position the ladder manages.
* Sized on the position *before* any take-profit fired (``basis``), so ``0.5`` then ``0.5`` closes
  the whole position in two halves; never more in total than what is open (reduce-only as well).
* Resized with the position: when the position (or its re-averaged entry) changes, each level whose
  quantity or trigger no longer matches is cancelled and placed again.
* Cancelled with it: a closed or reversed position cancels every take-profit of ours, one still
  being placed as soon as its answer comes; a placement whose outcome is unknown is cancelled by
  its client id (an unknown id answers -2011 and is forgotten), so no take-profit is left behind.
* A level that fired (FINISHED with a fill) is done for this position; one that disappeared from a
  snapshot without our hearing of it too (it may have fired during a stream gap: not re-placed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from traytrader.core.asl_io import ASL_ID_PREFIX, UNKNOWN_ORDER, AlgoStatus, Outcome
from traytrader.core.asl_toolkit import take_profit_levels
from traytrader.core.filters import SymbolFilters
from traytrader.core.models import PositionSide, TakeProfit
from traytrader.core.orders import base36

TP_ID_PREFIX = f"{ASL_ID_PREFIX}-p"
_ZERO = Decimal(0)


class TpStatus(StrEnum):
    PLACING = "placing"
    LIVE = "live"
    UNCERTAIN = "uncertain"     # placement outcome unknown: cancelled by client id
    CANCELLING = "cancelling"
    FIRING = "firing"           # TRIGGERING/TRIGGERED: the exchange is closing that part; never cancelled


@dataclass(frozen=True, slots=True)
class PlaceTakeProfit:
    client_algo_id: str
    position_qty: Decimal   # signed: the position it closes part of
    quantity: Decimal       # unsigned
    trigger_price: Decimal
    level: int


@dataclass(frozen=True, slots=True)
class CancelTakeProfit:
    client_algo_id: str


TpAction = PlaceTakeProfit | CancelTakeProfit


@dataclass(slots=True)
class _Order:
    level: int
    quantity: Decimal
    trigger: Decimal
    status: TpStatus
    sent_ms: int
    retired: bool = False
    epoch: int = 0              # the position it belongs to (``TakeProfits.epoch``)


@dataclass(slots=True)
class TakeProfits:
    symbol: str
    position_side: PositionSide
    targets: tuple[TakeProfit, ...]
    salt: str = "0"
    orders: dict[str, _Order] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    fired_qty: Decimal = _ZERO
    direction: int = 0
    epoch: int = 0              # bumps when a position opens, closes or reverses
    seq: int = 0

    def configure(self, targets: tuple[TakeProfit, ...]) -> None:
        """New targets for the next position (a live position keeps its own)."""
        if self.direction == 0:
            self.targets = targets

    # --- inputs ----------------------------------------------------------------------------------

    def sync(self, quantity: Decimal, entry: Decimal, protected: bool, filters: SymbolFilters,
             now_ms: int) -> list[TpAction]:
        """Bring the take-profits in line with the position: called after every ladder input."""
        out: list[TpAction] = []
        d = (quantity > 0) - (quantity < 0)
        if d != self.direction:   # opened, closed or reversed: the old position's levels go
            for order in self.orders.values():
                order.retired = True
            self.done, self.fired_qty, self.direction = set(), _ZERO, d
            self.epoch += 1
        self._sweep(out)
        if d == 0 or not protected or not self.targets or entry <= 0:
            return out
        basis = abs(quantity) + self.fired_qty
        levels = take_profit_levels(d * basis, entry, self.targets, filters)
        wanted = {level.index: level for level in levels
                  if level.index not in self.done and level.quantity > 0}
        room = abs(quantity)
        for index in sorted(wanted):   # never more than the position in total
            level = wanted[index]
            if level.quantity > room:
                wanted[index] = type(level)(level.index, level.trigger, room)
            room -= wanted[index].quantity
        current = [o for o in self.orders.values() if not o.retired]
        for order in self.orders.values():
            if order.retired:
                continue
            level = wanted.get(order.level)
            if level is None or level.quantity <= 0 or level.quantity != order.quantity \
                    or level.trigger != order.trigger:
                order.retired = True
        self._sweep(out)
        held = {o.level for o in current if not o.retired}
        busy = {o.level for o in self.orders.values() if o.status is TpStatus.PLACING}
        for index, level in sorted(wanted.items()):
            if index in held or index in busy or level.quantity <= 0:
                continue
            self.seq += 1
            cid = f"{TP_ID_PREFIX}{index}-{self.salt}-{base36(now_ms)}-{base36(self.seq)}"[:36]
            self.orders[cid] = _Order(index, level.quantity, level.trigger, TpStatus.PLACING, now_ms,
                                      epoch=self.epoch)
            out.append(PlaceTakeProfit(cid, quantity, level.quantity, level.trigger, index))
        return out

    def on_update(self, client_algo_id: str, status: AlgoStatus, filled: Decimal) -> list[TpAction]:
        """An ALGO_UPDATE about one of ours."""
        order = self.orders.get(client_algo_id)
        out: list[TpAction] = []
        if order is None:
            return out
        mine = order.epoch == self.epoch   # of the position open now
        if status is AlgoStatus.NEW:
            if order.status in (TpStatus.PLACING, TpStatus.UNCERTAIN):
                order.status = TpStatus.LIVE
            self._sweep(out)
        elif status in (AlgoStatus.TRIGGERING, AlgoStatus.TRIGGERED):
            order.status = TpStatus.FIRING
            if mine:
                self.done.add(order.level)
        else:   # FINISHED, CANCELED, EXPIRED, REJECTED: its end
            if status is AlgoStatus.FINISHED and filled > 0 and mine:
                self.done.add(order.level)
                self.fired_qty += filled
            del self.orders[client_algo_id]
        return out

    def on_place_result(self, client_algo_id: str, outcome: Outcome) -> list[TpAction]:
        order = self.orders.get(client_algo_id)
        out: list[TpAction] = []
        if order is None or order.status is not TpStatus.PLACING:
            return out
        if outcome is Outcome.CONFIRMED:
            order.status = TpStatus.LIVE
        elif outcome is Outcome.REJECTED:
            del self.orders[client_algo_id]
            self.done.add(order.level)   # refused (e.g. the price is already there): not retried
        else:
            order.status, order.retired = TpStatus.UNCERTAIN, True   # cancel by id; placed again after
        self._sweep(out)
        return out

    def on_cancel_result(self, client_algo_id: str, outcome: Outcome, code: int | None) -> list[TpAction]:
        order = self.orders.get(client_algo_id)
        if order is None:
            return []
        if outcome is Outcome.CONFIRMED or code in UNKNOWN_ORDER:
            del self.orders[client_algo_id]
        else:
            order.status = TpStatus.LIVE   # still there as far as we know: cancelled again
        return []

    def on_snapshot(self, listed: set[str], requested_ms: int) -> list[TpAction]:
        """Our take-profits an ``openAlgoOrders`` query sent at ``requested_ms`` lists. Ours it
        lists and we do not know are cancelled (orphans); ours we knew as live before the query
        and it does not list are gone (fired or cancelled elsewhere): done, not re-placed."""
        out: list[TpAction] = []
        for cid, order in list(self.orders.items()):
            if cid not in listed and order.status is TpStatus.LIVE and order.sent_ms < requested_ms:
                if order.epoch == self.epoch:
                    self.done.add(order.level)
                del self.orders[cid]
        for cid in listed - set(self.orders):
            self.orders[cid] = _Order(_level_of(cid), _ZERO, _ZERO, TpStatus.LIVE, requested_ms,
                                      retired=True)
        self._sweep(out)
        return out

    def recover(self, listed: dict[str, tuple[Decimal, Decimal]], quantity: Decimal,
                now_ms: int) -> list[TpAction]:
        """Start or reconnect: ``listed`` is client id → (quantity, trigger) of ours on the exchange.
        With a position they are adopted and the levels not listed count as done (fired before);
        without one they are cancelled."""
        d = (quantity > 0) - (quantity < 0)
        self.direction = d
        self.epoch += 1
        self.orders = {cid: _Order(_level_of(cid), qty, trigger, TpStatus.LIVE, now_ms, retired=d == 0,
                                   epoch=self.epoch) for cid, (qty, trigger) in listed.items()}
        if d and listed:
            levels = {o.level for o in self.orders.values()}
            self.done = {i for i in range(1, len(self.targets) + 1) if i not in levels}
        out: list[TpAction] = []
        self._sweep(out)
        return out

    # --- helpers ---------------------------------------------------------------------------------

    def _sweep(self, out: list[TpAction]) -> None:
        for cid, order in self.orders.items():
            if order.retired and order.status in (TpStatus.LIVE, TpStatus.UNCERTAIN):
                order.status = TpStatus.CANCELLING
                out.append(CancelTakeProfit(cid))

    def known(self) -> frozenset[str]:
        return frozenset(self.orders)


def _level_of(client_algo_id: str) -> int:
    digits = client_algo_id[len(TP_ID_PREFIX):].split("-", 1)[0]
    return int(digits) if digits.isdigit() else 0


def is_take_profit_id(client_algo_id: str) -> bool:
    return client_algo_id.startswith(TP_ID_PREFIX)
