"""Events a client must survive: basis between last, mark and index; funding; margin calls;
liquidation; algo orders that expire, are rejected or sit in TRIGGERING. Mixed into :class:`Exchange`.

Payload shapes follow Binance's user-data stream documentation (``ACCOUNT_UPDATE`` with
``m=FUNDING_FEE``: for a crossed position only the balance, ``P`` empty; ``MARGIN_CALL`` with ``cw``
and ``p[]``; special client order ids ``autoclose-…`` for liquidation orders and execution type
``CALCULATED`` for "Liquidation Execution"). No live capture of these was found (UNCONFIRMED).
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import TYPE_CHECKING

from traytrader.sim import payloads as P
from traytrader.sim.errors import err
from traytrader.sim.state import ZERO, Account, AlgoOrder, Order, Position

if TYPE_CHECKING:
    from traytrader.sim.exchange import Exchange

MARK_PLACES = Decimal("0.00000001")
#: Binance's default funding: interest 0.01 % per 8 h; the premium moves it, capped at ±0.3 %.
BASE_FUNDING = Decimal("0.0001")
FUNDING_CAP = Decimal("0.003")
#: A MARGIN_CALL goes out when maintenance margin reaches this share of the margin balance.
MARGIN_CALL_RATIO = Decimal("0.8")


class EventsMixin:
    def init_events(self: Exchange, seed: int) -> None:
        self.basis_bps = 0.0  # set by the server (SimOptions.basis_bps)
        self.liquidation = False  # SimOptions.liquidation: margin calls and liquidations on price moves
        self._basis_rng = random.Random(seed * 7 + 3)
        self._basis: dict[str, tuple[float, float]] = {}  # symbol -> (mark bps, index bps)
        self.reject_triggers = 0  # the algo_reject fault: how many triggers to refuse
        self.hold_triggers: tuple[int, int] = (0, 0)  # the algo_hold fault: (how many, for ms)
        self.held: dict[int, int] = {}  # algo id -> when its TRIGGERING ends (ms)
        self.margin_called: set[str] = set()
        self.funding_paid: dict[str, Decimal] = {}  # symbol -> last funding rate settled
        self.next_funding_ms = 0  # 0: no funding timer (the server sets it with SimOptions.funding)

    # ----------------------------------------------------------------------------- basis
    def _walk_basis(self: Exchange, symbol: str) -> tuple[float, float]:
        """A seeded mean-reverting walk of (mark - last, index - last) in basis points."""
        m, i = self._basis.get(symbol, (0.0, 0.0))
        cap, rng = self.basis_bps, self._basis_rng
        m = max(-cap, min(cap, 0.9 * m + rng.gauss(0, cap / 3)))
        i = max(-cap, min(cap, 0.9 * i + rng.gauss(0, cap / 3)))
        self._basis[symbol] = (m, i)
        return m, i

    def marked(self: Exchange, symbol: str, last: Decimal) -> Decimal:
        if not self.basis_bps:
            return last
        m, _ = self._walk_basis(symbol)
        return (last * (1 + Decimal(repr(m)) / 10_000)).quantize(MARK_PLACES)

    def indexed(self: Exchange, symbol: str, last: Decimal) -> Decimal:
        if not self.basis_bps:
            return ZERO  # index = mark
        _, i = self._basis.get(symbol, (0.0, 0.0))
        return (last * (1 + Decimal(repr(i)) / 10_000)).quantize(MARK_PLACES)

    def index_price(self: Exchange, symbol: str) -> Decimal:
        q = self.quotes[symbol]
        return q.index or q.mark

    def funding_rate(self: Exchange, symbol: str) -> Decimal:
        """0.01 % plus the premium of mark over index, capped at ±0.3 % (follows the path)."""
        q, index = self.quotes[symbol], self.index_price(symbol)
        premium = (q.mark - index) / index if index else ZERO
        rate = max(-FUNDING_CAP, min(FUNDING_CAP, BASE_FUNDING + premium))
        return rate.quantize(MARK_PLACES)

    def market_trade(self: Exchange, symbol: str, last: Decimal, before: Decimal, now_ms: int) -> None:
        """The market's own trade at the new last price (for the aggTrade/trade streams): a seeded
        size (log-normal, median about 0.05 BTC of notional); the taker sold if the price fell."""
        spec = self.specs[symbol]
        btc = 0.05 * math.exp(self._basis_rng.gauss(0, 1.2))
        qty = max(1, int(btc * 76915.0 / float(last) / float(spec.step_size))) * spec.step_size
        trade_id = self._next_trade
        self._next_trade += 1
        self.trades.append((symbol, last, qty, last < before, trade_id, now_ms))

    # ----------------------------------------------------------------------------- funding
    def settle_funding(
        self: Exchange, now_ms: int, symbol: str | None = None, rate: Decimal | None = None
    ) -> int:
        """Pay or charge funding on every open position (of ``symbol``): longs pay a positive rate.
        Sends ``ACCOUNT_UPDATE m=FUNDING_FEE``; returns how many positions paid or received."""
        n = 0
        for acct in self.accounts.values():
            for pos in acct.positions.values():
                if not pos.amount or (symbol is not None and pos.symbol != symbol):
                    continue
                r = rate if rate is not None else self.funding_rate(pos.symbol)
                fee = -(pos.amount * self.quotes[pos.symbol].mark * r).quantize(MARK_PLACES)
                acct.wallet += fee
                acct.update_ms = now_ms
                iso = acct.isolated.get(pos.symbol, False)
                ev = P.account_update(acct, [pos] if iso else [], self.quotes, "FUNDING_FEE", now_ms,
                                      Decimal("0.0005"), balance_change=fee)
                ev["a"]["S"] = pos.symbol  # the official SDK's "Symbol associated with FUNDING_FEE event"
                self._emit(acct, ev)
                self.funding_paid[pos.symbol] = r
                n += 1
        return n

    # ----------------------------------------------------------------------------- risk
    def check_risk(self: Exchange, now_ms: int) -> None:
        """After a price move: MARGIN_CALL when maintenance margin nears the margin balance,
        liquidation once the margin balance no longer covers it (cross: the whole account)."""
        if not self.liquidation:
            return
        for acct in self.accounts.values():
            live = [p for p in acct.positions.values() if p.amount]
            if not live:
                continue
            m = self.margin(acct)
            balance = acct.wallet + m["upnl"]
            if balance <= m["maint"]:
                self.liquidate(acct, now_ms)
            elif m["maint"] >= MARGIN_CALL_RATIO * balance:
                if acct.api_key not in self.margin_called:
                    self.margin_called.add(acct.api_key)
                    self._emit(acct, self._margin_call(acct, live, balance, now_ms))
            else:
                self.margin_called.discard(acct.api_key)

    def _margin_call(
        self: Exchange, acct: Account, live: list[Position], balance: Decimal, now_ms: int
    ) -> dict:
        rows = []
        for pos in live:
            mark = self.quotes[pos.symbol].mark
            notional = abs(pos.amount) * mark
            rows.append({
                "s": pos.symbol,
                "ps": pos.position_side,
                "pa": P.plain(pos.amount),
                "mt": "ISOLATED" if acct.isolated.get(pos.symbol) else "CROSSED",
                "iw": "0",
                "mp": P.fixed(mark, 8),
                "up": P.fixed(pos.amount * (mark - pos.entry), 8),
                "mm": P.fixed(notional * self.specs[pos.symbol].maint_ratio(notional), 8),
            })
        return {"e": "MARGIN_CALL", "E": now_ms, "cw": P.fixed(balance, 8), "p": rows}

    def liquidate(self: Exchange, acct: Account, now_ms: int) -> None:
        """The exchange closes every position of the account at the mark price with its own IOC
        order (client id ``autoclose-<ms>``), after cancelling the account's open orders. A wallet
        left negative is covered by the insurance fund (set to 0)."""
        for o in list(acct.open_orders.values()):
            self._close(acct, o, "CANCELED", now_ms)
        for pos in [p for p in acct.positions.values() if p.amount]:
            spec, mark = self.specs[pos.symbol], self.quotes[pos.symbol].mark
            side = "SELL" if pos.amount > 0 else "BUY"
            qty = abs(pos.amount)
            cid = f"autoclose-{now_ms}{self._next_order % 1000:03d}"
            o = Order(self._next_order, acct.api_key, pos.symbol, side, pos.position_side, "LIQUIDATION",
                      "IOC", qty, mark.quantize(spec.tick_size), True, cid, now_ms, update_ms=now_ms)
            self._next_order += 1
            self.orders[o.order_id] = o
            fee = qty * mark * Decimal("0.0005")
            realized = self._apply(pos, side, qty, mark, now_ms)
            acct.wallet = max(ZERO, acct.wallet + realized - fee)
            o.executed, o.cum_quote, o.status = qty, qty * mark, "FILLED"
            trade_id = self._next_trade
            self._next_trade += 1
            self.trades.append((pos.symbol, mark, qty, side == "SELL", trade_id, now_ms))
            self._emit(acct, P.order_trade_update(
                o, spec, "CALCULATED", now_ms, last_qty=qty, last_price=mark, fee=fee, trade_id=trade_id,
                realized=realized,
            ))
            self._emit(acct, P.account_update(acct, [pos], self.quotes, "ORDER", now_ms, Decimal("0.0005")))
        self.margin_called.discard(acct.api_key)

    # ----------------------------------------------------------------------------- algo faults
    def maybe_reject_trigger(self: Exchange) -> None:
        if self.reject_triggers > 0:
            self.reject_triggers -= 1
            raise err(-2019)  # "Margin is insufficient.": the ALGO_UPDATE's rm (UNCONFIRMED text)

    def hold_trigger(self: Exchange, a: AlgoOrder, now_ms: int) -> bool:
        n, ms = self.hold_triggers
        if n <= 0:
            return False
        self.hold_triggers = (n - 1, ms)
        self.held[a.algo_id] = now_ms + ms
        return True

    def release_held(self: Exchange, now_ms: int) -> None:
        for algo_id, until in list(self.held.items()):
            if until <= now_ms:
                del self.held[algo_id]
                a = self.algos.get(algo_id)
                if a is not None and a.status == "TRIGGERING":
                    self._place_triggered(self.accounts[a.api_key], a, now_ms)

    def expire_algos(self: Exchange, now_ms: int, algo_id: int | None = None, due_only: bool = False) -> int:
        """End open (NEW) algo orders EXPIRED: GTD ones past ``goodTillDate`` (``due_only``), one by
        id, or all; returns how many."""
        n = 0
        for a in [a for book in self.algo_book.values() for a in book.values() if a.status == "NEW"]:
            if algo_id is not None and a.algo_id != algo_id:
                continue
            if due_only and not (a.good_till and a.good_till <= now_ms):
                continue
            acct = self.accounts[a.api_key]
            a.move("EXPIRED", now_ms)
            acct.open_algos.pop(a.algo_id, None)
            self.algo_book[a.symbol].pop(a.algo_id, None)
            self._emit(acct, P.algo_update(a, now_ms))
            n += 1
        return n
