"""One position's reconciliation of the exchange's absolute updates with fill deltas (pure logic).

Two kinds of news move a position. ACCOUNT_UPDATE carries the exchange's absolute amount at its
transaction time ``T``; a fill report (the ``order.place`` RESULT, an ORDER_TRADE_UPDATE, an
``order.status`` answer) carries a delta at its time ``t``. The shown amount is the last absolute
(``base``) plus the fills it does not include yet (``pending``). The question for every delta is
therefore: is it already inside ``base``?

* Identity first: the caller turns each report into a delta once, by order identity and cumulative
  filled quantity (``OrderFills``), so the same fill from three sources is one delta.
* Time decides where it can: a fill older than an absolute (``t < T``) is inside it; a fill newer
  (``t > T``) is not.
* The same millisecond is matched by amount. Binance pushes one ACCOUNT_UPDATE per trade, with the
  trade's ``T`` (protocol notes, section 8; the 2024-09 NOTUSDT capture shows three updates for one
  order's three trades), and across event types the stream order within one ``E`` is not fixed (the
  2024-09 DARUSDT capture has the update 1 ms before its ORDER_TRADE_UPDATE; the simulator sends the
  update first). So an absolute's change ``c = amount - base`` is first explained by pending fills of
  the same millisecond and sign; what is left over is a *credit*: a trade the exchange counted whose
  report has not arrived. A later report of that millisecond and sign consumes the credit instead of
  being added.

Deltas and absolutes are conserved: consuming takes the same amount from both sides, so when every
trade's report and update have arrived, nothing is pending and the shown amount is the exchange's.
Same-millisecond trades of equal sign are interchangeable for the amount. One case is ambiguous by
nature: a foreign trade of another size in the very millisecond of ours, whose update outruns its
order event, looks like part of our fill; the amount is wrong until that order event arrives (the
next message or so), never after.

Times are exchange times; ``0`` means unknown (then only amounts decide). An update older than the
last one shows that the exchange's clock jumped back: what waits from before the jump is then
paired by amount alone. An update lost in a stream gap is covered by time (the next, newer update
includes the fill) and by the snapshot the engine loads after every reconnect (``reset``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)


def blend(quantity: Decimal, entry: Decimal, delta: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
    """Position ``(quantity, entry)`` after a signed fill ``delta`` at ``price``: the entry is the
    quantity-weighted average when opening or adding, unchanged when reducing, ``price`` when the fill
    reversed through zero, and zero when flat."""
    new = quantity + delta
    if new == 0:
        return new, ZERO
    if quantity == 0 or (quantity > 0) == (delta > 0):
        return new, (abs(quantity) * entry + abs(delta) * price) / abs(new)
    if (new > 0) != (quantity > 0):
        return new, price
    return new, entry


@dataclass
class _Part:
    """A signed amount waiting for its counterpart (a pending fill or a credit)."""
    quantity: Decimal
    at_ms: int
    price: Decimal = ZERO


def _consume(parts: list[_Part], amount: Decimal, match: int | None) -> Decimal:
    """Take up to ``amount`` (signed) from ``parts`` of the same sign, oldest first, limited to
    ``at_ms == match`` unless either time is unknown; returns what is left of ``amount``."""
    for part in parts:
        if amount == 0:
            break
        if (part.quantity > 0) != (amount > 0) or (match and part.at_ms and part.at_ms != match):
            continue
        taken = min(abs(part.quantity), abs(amount))
        taken = taken if amount > 0 else -taken
        part.quantity -= taken
        amount -= taken
    parts[:] = [part for part in parts if part.quantity != 0]
    return amount


@dataclass
class PositionLedger:
    """The reconciled state of one position (``amount`` signed: > 0 long, < 0 short)."""
    base: Decimal = ZERO                 # the exchange's last absolute amount
    base_entry: Decimal = ZERO
    base_ms: int = 0                     # its transaction time (0: none yet)
    pending: list[_Part] = field(default_factory=list)   # fills not inside ``base`` yet
    credits: list[_Part] = field(default_factory=list)   # trades inside ``base`` not reported yet
    snapshot_ms: int = 0                 # a snapshot's last change: fills up to then are inside it

    def view(self) -> tuple[Decimal, Decimal]:
        """The amount and entry price to show: ``base`` with the pending fills on top."""
        quantity, entry = self.base, self.base_entry
        for part in self.pending:
            quantity, entry = blend(quantity, entry, part.quantity, part.price)
        return quantity, entry

    def absolute(self, amount: Decimal, entry: Decimal, at_ms: int) -> None:
        """Apply the exchange's absolute amount at transaction time ``at_ms``.

        An update no newer than the last snapshot's last change (``snapshot_ms``) is inside that
        snapshot, which was read after it: it changes nothing, and the snapshot keeps vouching for
        the fills up to its time. Applied as news, its zero change left no credit, and the report
        of the very fill the snapshot held counted again (a closed position shown as a new short
        and given a stop: the reliability harness, ``listenkey-expiry``). The one exception is the
        same millisecond with another amount: a trade after the snapshot, in its millisecond."""
        if at_ms and self.snapshot_ms and at_ms <= self.snapshot_ms:
            if at_ms == self.snapshot_ms and amount != self.base:
                self.base, self.base_entry, self.base_ms = amount, entry, at_ms
            return
        change = amount - self.base
        if at_ms and at_ms < self.base_ms:
            # The stream went back in time (updates are ordered by ``T``): the exchange's clock
            # jumped. Times from before the jump no longer compare with those after it, so what
            # waits from then is matched by amount alone.
            for part in (*self.pending, *self.credits):
                if part.at_ms > at_ms:
                    part.at_ms = 0
        if at_ms:
            older = [part for part in self.pending if part.at_ms and part.at_ms < at_ms]
            for part in older:              # traded before this update: inside it
                change -= part.quantity
            self.pending = [part for part in self.pending if not (part.at_ms and part.at_ms < at_ms)]
            if at_ms > self.base_ms:
                # A report of a trade older than this update is recognised by its time from now
                # on; older credits would only be matched wrongly.
                self.credits = [part for part in self.credits if part.at_ms >= at_ms]
        change = _consume(self.pending, change, at_ms)
        if change:
            self.credits.append(_Part(change, at_ms))
        self.base, self.base_entry, self.base_ms = amount, entry, at_ms
        self.snapshot_ms = 0

    def fill(self, delta: Decimal, price: Decimal, at_ms: int) -> bool:
        """Apply a signed fill delta first reported now; True when it moved the shown amount
        (False: the last absolute already includes it)."""
        if delta == 0:
            return False
        if at_ms and self.base_ms and at_ms < self.base_ms:
            return False                    # older than the last absolute: inside it
        if at_ms and self.snapshot_ms and at_ms <= self.snapshot_ms:
            return False                    # the snapshot's last change was this fill or later
        rest = _consume(self.credits, delta, at_ms)
        if rest == 0:
            return False
        self.pending.append(_Part(rest, at_ms, price))
        return True

    def newest_ms(self, updated_ms: int = 0) -> int:
        """The latest exchange time this ledger knows of: its last absolute update or a fill since."""
        return max([updated_ms, self.base_ms, *(part.at_ms for part in self.pending)])

    def reset(self, amount: Decimal, entry: Decimal, updated_ms: int = 0) -> None:
        """A snapshot (warm-up or recovery): the amount is the exchange's and includes every fill
        reported so far, and every fill up to ``updated_ms`` (the row's ``updateTime``, its last
        change), even one reported only later (an order's answer lost in the same reconnect):
        such a report must not count again. Credits from before the snapshot go too: whatever
        they stood for is inside it, and a stale credit would swallow a later fill (F16)."""
        self.base, self.base_entry = amount, entry
        self.snapshot_ms = max(updated_ms, 0)
        self.pending.clear()
        if updated_ms > 0:
            self.credits = [part for part in self.credits if part.at_ms > updated_ms]


@dataclass
class _Order:
    filled: Decimal = ZERO
    notional: Decimal = ZERO            # filled x average price, for the increment's price


class OrderFills:
    """Cumulative filled quantity per order, so that each increment is counted once whichever
    source reports it first. An order is known by its exchange id and by its client id (RESULT,
    ORDER_TRADE_UPDATE and ``order.status`` carry both); either one finds it."""

    # Orders remembered (the oldest half forgotten at twice that): far more than are ever open or
    # in flight at once, and small enough that a long session's memory stays flat (the soak).
    # A forgotten order that fills again is counted once more until the next ACCOUNT_UPDATE.
    LIMIT = 512

    def __init__(self) -> None:
        self._orders: dict[tuple[str, str, object], _Order] = {}

    def increment(self, symbol: str, order_id: object, client_order_id: object, filled: Decimal,
                  average: Decimal) -> tuple[Decimal, Decimal] | None:
        """The new part ``(quantity, price)`` of a report that the order has ``filled`` in total at
        ``average``; None when nothing new (a duplicate or an older report)."""
        by_id = (symbol, "o", order_id) if order_id not in (None, "", 0) else None
        by_client = (symbol, "c", client_order_id) if client_order_id not in (None, "") else None
        if by_id is None and by_client is None:
            return (filled, average) if filled > 0 else None
        orders = self._orders
        order = (orders.get(by_id) if by_id is not None else None) or \
            (orders.get(by_client) if by_client is not None else None)
        if order is None:
            order = _Order()
            if len(orders) >= 2 * self.LIMIT:
                self._orders = orders = dict(list(orders.items())[-self.LIMIT:])
        if by_id is not None:
            orders[by_id] = order
        if by_client is not None:
            orders[by_client] = order
        delta = filled - order.filled
        if delta <= 0:
            return None
        notional = filled * average if average > 0 else ZERO
        known = notional and (order.notional or not order.filled) and order.notional <= notional
        price = (notional - order.notional) / delta if known else average
        if price <= 0:
            price = average
        order.filled, order.notional = filled, notional
        return delta, price
