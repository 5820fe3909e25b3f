"""The pure exchange: accounts, orders, positions, fees, margin, algo triggers and listen keys.

No I/O and no clock: every method takes ``now_ms``. Methods return Binance-shaped result dicts or
raise :class:`SimError`; user-data events go to ``outbox`` as ``(api_key, payload)`` and public trades
to ``trades``, which the server drains after each call. Matching is against the simulator's book
(best bid = last price, best ask = last + one tick). With ``book="simple"`` depth is unlimited:
MARKET orders fill whole at the touch; LIMIT orders fill as taker at the touch when marketable, else
rest and fill whole as maker at their price once the touch crosses them. With ``book="depth"`` the
levels are finite (:mod:`traytrader.sim.book`): takers walk the levels (one fill per level), a
resting LIMIT order fills in pieces while the market trades at its price and in full once it trades
through, an IOC remainder expires and a FOK the book cannot fill is refused (-5021).
"""

from __future__ import annotations

import random
import string
from collections import OrderedDict
from collections.abc import Mapping
from decimal import Decimal
from typing import TypeVar

from traytrader.sim import payloads as P
from traytrader.sim.accounts import AccountSpec
from traytrader.sim.book import DepthBook
from traytrader.sim.errors import SimError, err, missing
from traytrader.sim.event_order import EventOrder
from traytrader.sim.events import EventsMixin
from traytrader.sim.market import Market
from traytrader.sim.matching import MAKER_FEE, TAKER_FEE, MatchingMixin  # noqa: F401 (fees: re-exported)
from traytrader.sim.settings import SettingsMixin
from traytrader.sim.state import ZERO, Account, AlgoOrder, Order, Position, Quote
from traytrader.sim.triggers import observe, would_trigger_now
from traytrader.sim.validation import (
    NewOrder,
    check_percent_price,
    check_price,
    check_quantity,
    decimal,
    known_symbol,
    side_of,
    text,
    validate_algo,
    validate_order,
)

DEFAULT_LEVERAGE = 20
#: "The conditional order limits is 200 across all symbols" (change-log 2025-12-29).
MAX_OPEN_ALGOS = 200
ENTRY_PLACES = Decimal("0.00000001")


def _opposes(side: str, amount: Decimal) -> bool:
    return (side == "SELL" and amount > 0) or (side == "BUY" and amount < 0)


_T = TypeVar("_T")


def _require_one(p: dict, id_param: str, client_param: str) -> None:
    """A look-up must name its order, by exchange id or by client id (else Binance's -1102)."""
    if p.get(id_param) in (None, "") and text(p, client_param) is None:
        raise SimError(
            -1102, f"Param '{id_param}' or '{client_param}' must be sent, but both were empty/null!"
        )


def _named(p: dict, id_param: str, client_param: str, by_id: Mapping[int, _T],
           by_client: Mapping[tuple[str, str], int], api_key: str) -> _T | None:
    """The order ``p`` names (after ``_require_one``): by id when one is sent, else by this key's
    client id."""
    raw = p.get(id_param)
    if raw in (None, ""):
        cid = text(p, client_param)
        assert cid is not None
        return by_id.get(by_client.get((api_key, cid), 0))
    try:
        return by_id.get(int(str(raw)))
    except ValueError:
        raise missing(id_param) from None


class Exchange(SettingsMixin, MatchingMixin, EventsMixin):
    """All simulated exchange state. Single-threaded: call from the server's loop only."""

    def __init__(
        self,
        market: Market,
        accounts: list[AccountSpec],
        now_ms: int,
        *,
        seed: int = 0,
        history_limit: int = 50_000,
        book: str = "simple",
        event_order: EventOrder | None = None,
    ) -> None:
        self.market = market
        self.specs = market.specs
        self.accounts: dict[str, Account] = {
            a.api_key: Account(a, a.balance_usdt, a.hedge_mode) for a in accounts
        }
        self.quotes: dict[str, Quote] = {}
        self.books: dict[str, DepthBook] = {}  # empty with the simple book
        self.event_order = event_order or EventOrder()
        self.init_events(seed)
        for i, (sym, spec) in enumerate(self.specs.items()):
            p = spec.start_price
            self.quotes[sym] = Quote(sym, p, p, p, p + spec.tick_size, 1, now_ms)
            if book == "depth":
                self.books[sym] = DepthBook(spec, seed * 101 + i, p)
        self.orders: OrderedDict[int, Order] = OrderedDict()
        self.algos: OrderedDict[int, AlgoOrder] = OrderedDict()
        self.resting: dict[str, dict[int, Order]] = {s: {} for s in self.specs}
        self.algo_book: dict[str, dict[int, AlgoOrder]] = {s: {} for s in self.specs}
        self.outbox: list[tuple[str, dict]] = []
        self.trades: list[tuple[str, Decimal, Decimal, bool, int, int]] = []
        self.history_limit = history_limit
        self.listen_keys: dict[str, tuple[str, int]] = {}
        # (api_key, client id) -> the newest order / algo order carrying it, for lookups by client id.
        self.order_by_client: dict[tuple[str, str], int] = {}
        self.algo_by_client: dict[tuple[str, str], int] = {}
        self._rng = random.Random(seed)
        self._next_order = 8_100_000_001
        self._next_algo = 3_000_000_000_000_001
        self._next_trade = 5_000_000_001
        self.accepted_orders = 0

    # ----------------------------------------------------------------------------- helpers
    def account(self, api_key: str) -> Account:
        return self.accounts[api_key]

    def _emit(self, acct: Account, payload: dict) -> None:
        self.outbox.append((acct.api_key, payload))

    def _auto_id(self) -> str:
        return "".join(self._rng.choices(string.ascii_letters + string.digits, k=22))

    def _lev(self, acct: Account, symbol: str) -> int:
        return acct.leverage.get(symbol, DEFAULT_LEVERAGE)

    def _trim(self) -> None:
        """Forget the oldest closed orders beyond ``history_limit`` so memory stays flat."""
        for book, index in ((self.orders, self.order_by_client), (self.algos, self.algo_by_client)):
            live = 0
            while len(book) > self.history_limit and live < len(book):
                oid, rec = book.popitem(last=False)
                if rec.is_open or rec.status == "TRIGGERED":
                    book[oid] = rec  # still live: keep it, at the young end
                    live += 1
                    continue
                key = (rec.api_key, rec.client_id)
                if index.get(key) == oid:
                    del index[key]

    def margin(self, acct: Account) -> dict[str, Decimal]:
        upnl = pos_im = maint = ZERO
        for pos in acct.positions.values():
            if pos.amount:
                mark = self.quotes[pos.symbol].mark
                notional = abs(pos.amount) * mark
                upnl += pos.amount * (mark - pos.entry)
                pos_im += notional / self._lev(acct, pos.symbol)
                maint += notional * self.specs[pos.symbol].maint_ratio(notional)
        ord_im = sum(
            (
                ((o.quantity - o.executed) * o.price) / self._lev(acct, o.symbol)
                for o in acct.open_orders.values()
                if not o.reduce_only and o.type == "LIMIT"
            ),
            ZERO,
        )
        avail = acct.wallet + upnl - pos_im - ord_im
        return {
            "upnl": upnl,
            "pos_im": pos_im,
            "ord_im": ord_im,
            "maint": maint,
            "available": max(avail, ZERO),
            "raw_available": avail,
        }

    def _opening_qty(self, acct: Account, symbol: str, side: str, ps: str, qty: Decimal, ro: bool) -> Decimal:
        if ro:
            return ZERO
        if ps == "BOTH":
            amt = acct.position(symbol, "BOTH").amount
            return max(ZERO, qty - abs(amt)) if _opposes(side, amt) else qty
        return qty if (ps == "LONG") == (side == "BUY") else ZERO

    # ----------------------------------------------------------------------------- prices
    def set_quote(self, symbol: str, last: Decimal, now_ms: int, mark: Decimal | None = None) -> None:
        """Move ``symbol``'s book to ``last`` (and mark), then fill crossed orders and fire algos."""
        q = self.quotes[symbol]
        tick = self.specs[symbol].tick_size
        q.last, q.mark = last, (mark if mark is not None else self.marked(symbol, last))
        q.index = self.indexed(symbol, last)
        q.bid, q.ask = last, last + tick
        q.update_id += 1
        q.time_ms = now_ms
        book = self.books.get(symbol)
        if book is not None:
            book.move(last)
        self._cross_resting(symbol, book, now_ms)
        for a in list(self.algo_book[symbol].values()):
            if a.status == "NEW":
                self._observe_algo(self.accounts[a.api_key], a, now_ms)
        self.check_risk(now_ms)  # after the stops: a stop that fires in time saves the account

    def expire_due(self, now_ms: int) -> None:
        """Expire resting GTD orders whose ``goodTillDate`` has passed (called by the server's timer)."""
        for book in self.resting.values():
            for o in [o for o in book.values() if o.good_till and o.good_till <= now_ms]:
                self._close(self.accounts[o.api_key], o, "EXPIRED", now_ms)
        self.expire_algos(now_ms, due_only=True)
        self.release_held(now_ms)

    # ----------------------------------------------------------------------------- orders
    def place_order(self, api_key: str, p: dict, now_ms: int) -> dict:
        acct = self.accounts[api_key]
        sym = str(p.get("symbol") or "")
        q = self.quotes.get(sym)
        n = validate_order(p, self.specs, acct.hedge, q.mark if q else None, now_ms)
        return self._accept(acct, n, now_ms)

    def _accept(self, acct: Account, n: NewOrder, now_ms: int, algo: AlgoOrder | None = None) -> dict:
        spec, q = self.specs[n.symbol], self.quotes[n.symbol]
        cid = n.client_id or self._auto_id()
        if algo is None:
            if any(o.client_id == cid for o in acct.open_orders.values()):
                raise err(-4116)
            open_n = sum(1 for o in acct.open_orders.values() if o.symbol == n.symbol)
            open_n += sum(1 for a in acct.open_algos.values() if a.symbol == n.symbol)
            if open_n >= spec.max_num_orders:
                raise err(-2025)
        touch = q.ask if n.side == "BUY" else q.bid
        if n.type == "MARKET" and (
            (n.side == "BUY" and touch > q.mark * spec.multiplier_up)
            or (n.side == "SELL" and touch < q.mark * spec.multiplier_down)
        ):
            raise err(-4131)
        crosses = n.type == "MARKET" or (touch <= n.price if n.side == "BUY" else touch >= n.price)
        if n.type == "LIMIT" and n.tif == "GTX" and crosses:
            raise err(-5022)
        if n.type == "LIMIT" and n.tif == "FOK" and not crosses:
            raise err(-5021)
        book = self.books.get(n.symbol)
        if book is not None and n.tif == "FOK" and book.available(n.side, n.price) < n.quantity:
            raise err(-5021)  # the depth book cannot fill it whole at its price

        pos = acct.position(n.symbol, n.position_side)
        if n.reduce_only and not _opposes(n.side, pos.amount):
            raise err(-2022)
        if (
            n.position_side != "BOTH"
            and (n.position_side == "LONG") != (n.side == "BUY")
            and n.quantity > abs(pos.amount)
        ):
            raise err(-2022)
        opening = self._opening_qty(acct, n.symbol, n.side, n.position_side, n.quantity, n.reduce_only)
        if opening:
            ref = touch if crosses else n.price
            if opening * ref / self._lev(acct, n.symbol) > self.margin(acct)["raw_available"]:
                raise err(-2019)
        o = Order(
            self._next_order,
            acct.api_key,
            n.symbol,
            n.side,
            n.position_side,
            n.type,
            n.tif,
            n.quantity,
            n.price,
            n.reduce_only,
            cid,
            now_ms,
            n.stp,
            n.good_till,
            n.price_match,
            update_ms=now_ms,
        )
        if algo is not None:
            o.algo_id, o.orig_type, o.stop_price = algo.algo_id, algo.type, algo.trigger_price
            o.working_type, o.close_position, o.price_protect = (
                algo.working_type,
                algo.close_position,
                algo.price_protect,
            )
        self._next_order += 1
        self.accepted_orders += 1
        self.orders[o.order_id] = o
        self.order_by_client[(acct.api_key, cid)] = o.order_id
        acct.open_orders[o.order_id] = o
        self._trim()
        if algo is not None:
            algo.actual_order_id = o.order_id
            algo.move("TRIGGERED", now_ms)
            acct.open_algos.pop(algo.algo_id, None)
            self.algo_book[algo.symbol].pop(algo.algo_id, None)
            self._emit(acct, P.algo_update(algo, now_ms, o))
        o.events = self.event_order.pick()
        o.new_at = len(self.outbox)
        self._emit(acct, P.order_trade_update(o, spec, "NEW", now_ms))
        ack = P.order_result(o, spec)
        if crosses and book is not None:
            self._walk(acct, o, book, now_ms)
        elif crosses:
            self._fill(acct, o, touch, False, now_ms)
        o.new_at = None
        if not o.is_open:
            pass
        elif n.type == "MARKET" or n.tif == "IOC":
            self._close(acct, o, "EXPIRED", now_ms)
        else:
            self.resting[o.symbol][o.order_id] = o
        return ack if n.resp_type == "ACK" else P.order_result(o, spec)

    def _close(self, acct: Account, o: Order, status: str, now_ms: int) -> None:
        o.status, o.update_ms = status, now_ms
        acct.open_orders.pop(o.order_id, None)
        self.resting[o.symbol].pop(o.order_id, None)
        self._emit(acct, P.order_trade_update(o, self.specs[o.symbol], status, now_ms))
        self._finish_algo(acct, o, now_ms)

    def _finish_algo(self, acct: Account, o: Order, now_ms: int) -> None:
        if o.algo_id is not None and o.algo_id in self.algos:
            a = self.algos[o.algo_id]
            if a.status == "TRIGGERED":
                a.move("FINISHED", now_ms)
                self._emit(acct, P.algo_update(a, now_ms, o))

    @staticmethod
    def _apply(pos: Position, side: str, qty: Decimal, price: Decimal, now_ms: int) -> Decimal:
        signed = qty if side == "BUY" else -qty
        amt = pos.amount
        pos.update_ms = now_ms
        if amt == 0 or (amt > 0) == (signed > 0):
            new = amt + signed
            pos.entry = ((abs(amt) * pos.entry + qty * price) / abs(new)).quantize(ENTRY_PLACES)
            pos.amount = new
            return ZERO
        closing = min(abs(amt), qty)
        realized = closing * (price - pos.entry) * (1 if amt > 0 else -1)
        new = amt + signed
        if new == 0:
            pos.entry = ZERO
        elif (new > 0) != (amt > 0):
            pos.entry = price
        pos.amount = new
        pos.realized += realized
        return realized

    def _find(self, acct: Account, p: dict) -> Order | None:
        _require_one(p, "orderId", "origClientOrderId")
        sym = known_symbol(p, self.specs)
        o = _named(p, "orderId", "origClientOrderId", self.orders, self.order_by_client, acct.api_key)
        if o is None or o.api_key != acct.api_key or o.symbol != sym:
            return None
        return o

    def query_order(self, api_key: str, p: dict) -> dict:
        o = self._find(self.accounts[api_key], p)
        if o is None:
            raise err(-2013)
        return P.order_query(o, self.specs[o.symbol])

    def cancel_order(self, api_key: str, p: dict, now_ms: int) -> dict:
        acct = self.accounts[api_key]
        o = self._find(acct, p)
        if o is None or not o.is_open:
            raise err(-2011)
        self._close(acct, o, "CANCELED", now_ms)
        return P.order_result(o, self.specs[o.symbol])

    def modify_order(self, api_key: str, p: dict, now_ms: int) -> dict:
        acct = self.accounts[api_key]
        side = side_of(p)
        qty, price = decimal(p, "quantity"), decimal(p, "price")
        if qty is None:
            raise missing("quantity")
        if price is None:
            raise missing("price")
        o = self._find(acct, p)
        if o is None or not o.is_open:
            raise err(-2013)
        if o.type != "LIMIT" or side != o.side:
            raise err(-1116) if o.type != "LIMIT" else err(-1130, "side")
        spec, q = self.specs[o.symbol], self.quotes[o.symbol]
        check_quantity(qty, spec, False)
        check_price(price, spec)
        check_percent_price(side, price, q.mark, spec)
        if qty == o.quantity and price == o.price:
            raise err(-5027)
        if qty <= o.executed:
            raise err(-4003)
        o.quantity, o.price, o.update_ms = qty, price, now_ms
        o.modify_count += 1
        modify_id = text(p, "modifyId")  # the client's own tag: echoed as M and modifyId, as documented
        self._emit(acct, P.order_trade_update(o, spec, "AMENDMENT", now_ms, amend=modify_id))
        touch = q.ask if o.side == "BUY" else q.bid
        if (touch <= price) if o.side == "BUY" else (touch >= price):
            book = self.books.get(o.symbol)
            if book is not None:
                self._walk(acct, o, book, now_ms)  # what the book cannot fill keeps resting
            else:
                self._fill(acct, o, touch, False, now_ms)
        result = P.order_result(o, spec)
        if modify_id is not None:
            result["modifyId"] = int(modify_id) if modify_id.lstrip("-").isdigit() else modify_id
        return result

    def open_orders(self, api_key: str, symbol: str | None) -> list[dict]:
        acct = self.accounts[api_key]
        return [
            P.order_query(o, self.specs[o.symbol])
            for o in acct.open_orders.values()
            if symbol is None or o.symbol == symbol
        ]

    def cancel_all(self, api_key: str, symbol: str, now_ms: int) -> dict:
        acct = self.accounts[api_key]
        for o in [o for o in acct.open_orders.values() if o.symbol == symbol]:
            self._close(acct, o, "CANCELED", now_ms)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # ----------------------------------------------------------------------------- algo orders
    def place_algo(self, api_key: str, p: dict, now_ms: int) -> dict:
        acct = self.accounts[api_key]
        n = validate_algo(p, self.specs, acct.hedge, now_ms)
        cid = n.client_id or self._auto_id()
        if any(a.client_id == cid for a in acct.open_algos.values()):
            raise err(-4116)
        if len(acct.open_algos) >= MAX_OPEN_ALGOS:
            raise err(-4045)
        if n.close_position and any(
            a.close_position
            and a.symbol == n.symbol
            and a.side == n.side
            and a.position_side == n.position_side
            and a.type == n.type
            for a in acct.open_algos.values()
        ):
            raise err(-4130)
        price_now = self.quotes[n.symbol].working(n.working_type)
        a = AlgoOrder(
            self._next_algo,
            acct.api_key,
            cid,
            n.symbol,
            n.side,
            n.position_side,
            n.type,
            n.tif,
            n.quantity,
            n.price,
            n.trigger_price,
            n.working_type,
            n.close_position,
            n.reduce_only,
            n.price_protect,
            n.activate_price,
            n.callback_rate,
            now_ms,
            n.stp,
            n.good_till,
            n.price_match,
            extreme=price_now,
            update_ms=now_ms,
        )
        if would_trigger_now(a, price_now):
            raise err(-2021)
        self._next_algo += 1
        self.algos[a.algo_id] = a
        self.algo_by_client[(acct.api_key, cid)] = a.algo_id
        acct.open_algos[a.algo_id] = a
        self.algo_book[a.symbol][a.algo_id] = a
        self._trim()
        self._emit(acct, P.algo_update(a, now_ms))
        result = P.algo_result(a, self.specs[a.symbol])
        self._observe_algo(acct, a, now_ms)
        return result

    def _observe_algo(self, acct: Account, a: AlgoOrder, now_ms: int) -> None:
        just, fire = observe(a, self.quotes[a.symbol].working(a.working_type))
        if just:
            a.update_ms = now_ms
            self._emit(acct, P.algo_update(a, now_ms))
        if fire:
            self._trigger(acct, a, now_ms)

    def _trigger(self, acct: Account, a: AlgoOrder, now_ms: int) -> None:
        a.trigger_ms = now_ms
        a.move("TRIGGERING", now_ms)
        self._emit(acct, P.algo_update(a, now_ms))
        if self.hold_trigger(a, now_ms):  # the algo_hold fault: it sits in TRIGGERING for a while
            return
        self._place_triggered(acct, a, now_ms)

    def _place_triggered(self, acct: Account, a: AlgoOrder, now_ms: int) -> None:
        """Send a TRIGGERING algo's order to the matching engine (or end it REJECTED)."""
        pos = acct.position(a.symbol, a.position_side)
        qty = a.quantity
        if a.close_position:
            qty = abs(pos.amount) if (a.position_side != "BOTH" or _opposes(a.side, pos.amount)) else ZERO
        ro = a.reduce_only or (a.close_position and a.position_side == "BOTH")
        typ = "LIMIT" if a.type in ("STOP", "TAKE_PROFIT") else "MARKET"
        n = NewOrder(
            a.symbol,
            a.side,
            a.position_side,
            typ,
            a.tif if typ == "LIMIT" else "GTC",
            qty or ZERO,
            a.price,
            ro,
            a.client_id,
            "RESULT",
            a.stp,
            a.good_till,
            a.price_match,
        )
        try:
            if not qty:
                raise err(-2022)
            self.maybe_reject_trigger()  # the algo_reject fault
            self._accept(acct, n, now_ms, algo=a)
        except SimError as exc:
            a.reject_reason = "Reduce Only reject" if exc.code == -2022 else exc.msg
            a.move("REJECTED", now_ms)
            acct.open_algos.pop(a.algo_id, None)
            self.algo_book[a.symbol].pop(a.algo_id, None)
            self._emit(acct, P.algo_update(a, now_ms))

    def _find_algo(self, acct: Account, p: dict) -> AlgoOrder | None:
        _require_one(p, "algoId", "clientAlgoId")
        a = _named(p, "algoId", "clientAlgoId", self.algos, self.algo_by_client, acct.api_key)
        return a if a is not None and a.api_key == acct.api_key else None

    def cancel_algo(self, api_key: str, p: dict, now_ms: int) -> dict:
        acct = self.accounts[api_key]
        a = self._find_algo(acct, p)
        if a is None or a.status != "NEW":
            raise err(-2011)
        self._cancel_algo(acct, a, now_ms)
        return {"algoId": a.algo_id, "clientAlgoId": a.client_id, "code": "200", "msg": "success"}

    def _cancel_algo(self, acct: Account, a: AlgoOrder, now_ms: int) -> None:
        a.move("CANCELED", now_ms)
        acct.open_algos.pop(a.algo_id, None)
        self.algo_book[a.symbol].pop(a.algo_id, None)
        self._emit(acct, P.algo_update(a, now_ms))

    def query_algo(self, api_key: str, p: dict) -> dict:
        a = self._find_algo(self.accounts[api_key], p)
        if a is None:
            raise err(-2013)
        actual = self.orders.get(a.actual_order_id) if a.actual_order_id else None
        return P.algo_query(a, self.specs[a.symbol], actual)

    def open_algos(self, api_key: str, symbol: str | None) -> list[dict]:
        acct = self.accounts[api_key]
        return [
            P.algo_query(a, self.specs[a.symbol], None)
            for a in acct.open_algos.values()
            if symbol is None or a.symbol == symbol
        ]

    def cancel_all_algos(self, api_key: str, symbol: str, now_ms: int) -> dict:
        acct = self.accounts[api_key]
        for a in [a for a in acct.open_algos.values() if a.symbol == symbol and a.status == "NEW"]:
            self._cancel_algo(acct, a, now_ms)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}
