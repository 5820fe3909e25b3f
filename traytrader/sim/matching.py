"""Matching against the book: the depth book's level walk, resting orders crossed by the market,
and the book as clients read it (depth, bookTicker sizes). Mixed into :class:`Exchange`."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from traytrader.sim import payloads as P
from traytrader.sim.book import DepthBook
from traytrader.sim.event_order import FILL_ORDERS
from traytrader.sim.state import ZERO, Account, Order

if TYPE_CHECKING:
    from traytrader.sim.exchange import Exchange

Levels = list[tuple[Decimal, Decimal]]
FIVE = Decimal("5.000")
#: Fees of the regular (VIP 0) USDⓈ-M tier: 0.05 % taker, 0.02 % maker (as of 2026).
TAKER_FEE = Decimal("0.0005")
MAKER_FEE = Decimal("0.0002")


def _opposes(side: str, amount: Decimal) -> bool:
    return (side == "SELL" and amount > 0) or (side == "BUY" and amount < 0)


class MatchingMixin:
    def _cross_resting(self: Exchange, symbol: str, book: DepthBook | None, now_ms: int) -> None:
        """Fill resting LIMIT orders the market reached: the simple book fills them whole once the
        touch crosses their price; the depth book fills a piece each time the market trades AT their
        price and the rest once it trades through."""
        q = self.quotes[symbol]
        for o in list(self.resting[symbol].values()):
            if not o.is_open:
                continue
            acct = self.accounts[o.api_key]
            touch = q.ask if o.side == "BUY" else q.bid
            if book is not None and touch == o.price:
                self._fill(acct, o, o.price, True, now_ms, book.piece(o.quantity - o.executed))
            elif (o.side == "BUY" and touch <= o.price) or (o.side == "SELL" and touch >= o.price):
                self._fill(acct, o, o.price, True, now_ms)

    def _fill(
        self: Exchange, acct: Account, o: Order, price: Decimal, maker: bool, now_ms: int,
        part: Decimal | None = None,
    ) -> None:
        """Fill ``part`` of ``o`` (default: all that remains) at ``price``. A reduce-only order is cut
        to the position; what it cannot fill without opening one expires."""
        spec = self.specs[o.symbol]
        pos = acct.position(o.symbol, o.position_side)
        want = o.quantity - o.executed if part is None else min(part, o.quantity - o.executed)
        qty = want
        if o.reduce_only or o.close_position:
            qty = min(qty, abs(pos.amount)) if _opposes(o.side, pos.amount) else ZERO
        if qty <= 0:
            self._close(acct, o, "EXPIRED", now_ms)
            return
        notional = qty * price
        fee = notional * (MAKER_FEE if maker else TAKER_FEE)
        realized = self._apply(pos, o.side, qty, price, now_ms)
        acct.wallet += realized - fee
        acct.update_ms = now_ms
        o.executed += qty
        o.cum_quote += notional
        o.update_ms = now_ms
        o.status = "FILLED" if o.executed >= o.quantity else "PARTIALLY_FILLED"
        trade_id = self._next_trade
        self._next_trade += 1
        self.trades.append((o.symbol, price, qty, o.side == "SELL", trade_id, now_ms))
        events = {
            "TRADE_LITE": P.trade_lite(o, spec, qty, price, trade_id, maker, now_ms),
            "ACCOUNT_UPDATE": P.account_update(acct, [pos], self.quotes, "ORDER", now_ms, TAKER_FEE),
            "TRADE": P.order_trade_update(
                o, spec, "TRADE", now_ms, last_qty=qty, last_price=price, fee=fee, trade_id=trade_id,
                maker=maker, realized=realized,
            ),
        }
        for name in FILL_ORDERS[o.events]:
            if name == "TRADE_LITE" and o.events == "lite-first" and o.new_at is not None:
                self.outbox.insert(o.new_at, (acct.api_key, events[name]))  # ahead of the NEW
                o.new_at = None
            else:
                self._emit(acct, events[name])
        if o.status == "FILLED":
            acct.open_orders.pop(o.order_id, None)
            self.resting[o.symbol].pop(o.order_id, None)
            self._finish_algo(acct, o, now_ms)
        elif qty < want:  # a reduce-only remainder that would open a position expires
            self._close(acct, o, "EXPIRED", now_ms)

    def _walk(self: Exchange, acct: Account, o: Order, book: DepthBook, now_ms: int) -> None:
        """Take from the depth book level by level (one fill per level), never past a LIMIT's price."""
        want = o.quantity - o.executed
        if o.reduce_only or o.close_position:
            pos = acct.position(o.symbol, o.position_side)
            want = min(want, abs(pos.amount)) if _opposes(o.side, pos.amount) else ZERO
            if want <= 0:
                self._close(acct, o, "EXPIRED", now_ms)
                return
        for price, qty in book.take(o.side, want, o.price if o.type == "LIMIT" else None):
            if not o.is_open:
                break
            self._fill(acct, o, price, False, now_ms, qty)
        q = self.quotes[o.symbol]
        q.ask, q.bid = book.best("asks")[0], book.best("bids")[0]


    def depth(self: Exchange, symbol: str, limit: int) -> tuple[Levels, Levels]:
        """The top ``limit`` levels, (bids, asks): the depth book's, or the simple book's 5.000 ladder."""
        book = self.books.get(symbol)
        if book is not None:
            return book.levels("bids", limit), book.levels("asks", limit)
        q, tick, five = self.quotes[symbol], self.specs[symbol].tick_size, FIVE
        n = min(limit, 20)
        return [(q.bid - i * tick, five) for i in range(n)], [(q.ask + i * tick, five) for i in range(n)]

    def touch_qty(self: Exchange, symbol: str) -> tuple[Decimal, Decimal]:
        """(best bid quantity, best ask quantity)."""
        book = self.books.get(symbol)
        if book is None:
            return FIVE, FIVE
        return book.best("bids")[1], book.best("asks")[1]
