"""Matching against the book: the depth book's level walk, resting orders crossed by the market,
and the book as clients read it (depth, bookTicker sizes). Mixed into :class:`Exchange`."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from traytrader.sim.book import DepthBook
from traytrader.sim.state import ZERO, Account, Order

if TYPE_CHECKING:
    from traytrader.sim.exchange import Exchange

Levels = list[tuple[Decimal, Decimal]]
FIVE = Decimal("5.000")


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
