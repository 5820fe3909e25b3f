"""What the simulator remembers for the read endpoints: public trades, candles, account trades, income.

Fed by the server after each exchange call (``record_trade``, ``record_event``) and each price move
(``record_price``); read by ``reads.py``. Bounded: the newest ``TRADES_KEPT`` public trades per
symbol, ``CANDLES_KEPT`` one-minute candles per symbol (a day and more: enough for ``ticker/24hr``)
and ``ACCOUNT_KEPT`` account trades and income rows per account. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from traytrader.sim.state import ZERO

MINUTE_MS = 60_000
TRADES_KEPT = 10_000
CANDLES_KEPT = 1_500
ACCOUNT_KEPT = 10_000


@dataclass
class PublicTrade:
    trade_id: int
    agg_id: int
    price: Decimal
    qty: Decimal
    time_ms: int
    buyer_maker: bool


@dataclass
class Candle:
    """One minute of one symbol (open time in ms): open/high/low/close of the last price, volumes and
    count of every public trade in it."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = ZERO
    quote_volume: Decimal = ZERO
    trades: int = 0
    taker_buy_volume: Decimal = ZERO
    taker_buy_quote: Decimal = ZERO
    first_id: int = -1  # first and last public trade id in it (-1: none)
    last_id: int = -1

    def add_price(self, price: Decimal) -> None:
        self.high, self.low, self.close = max(self.high, price), min(self.low, price), price


@dataclass
class AccountTrade:
    """One fill of one order, as ``GET /fapi/v1/userTrades`` reports it."""

    trade_id: int
    order_id: int
    symbol: str
    side: str
    position_side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    realized: Decimal
    maker: bool
    time_ms: int


@dataclass
class Income:
    tran_id: int
    symbol: str
    income_type: str
    amount: Decimal
    time_ms: int
    trade_id: str = ""
    info: str = ""


class AccountHistory:
    """One account's fills and income. Fills arrive as the raw ORDER_TRADE_UPDATE bodies (cheap on
    the order path) and are parsed the first time someone reads them."""

    def __init__(self) -> None:
        self._raw: deque[dict] = deque(maxlen=ACCOUNT_KEPT)
        self._trades: deque[AccountTrade] = deque(maxlen=ACCOUNT_KEPT)
        self._income: deque[Income] = deque(maxlen=ACCOUNT_KEPT)
        self._tran_id = 9_000_000_001

    def add_income(self, symbol: str, kind: str, amount: Decimal, t: int, trade: str = "") -> None:
        self._income.append(Income(self._tran_id, symbol, kind, amount, t, trade))
        self._tran_id += 1

    def _parse(self) -> None:
        while self._raw:
            o = self._raw.popleft()
            fill = AccountTrade(
                int(o["t"]), int(o["i"]), o["s"], o["S"], o["ps"], Decimal(o["L"]), Decimal(o["l"]),
                Decimal(o["n"]), Decimal(o["rp"]), bool(o["m"]), int(o["T"]),
            )
            self._trades.append(fill)
            tid = str(fill.trade_id)
            if fill.realized:
                self.add_income(fill.symbol, "REALIZED_PNL", fill.realized, fill.time_ms, tid)
            if fill.commission:
                self.add_income(fill.symbol, "COMMISSION", -fill.commission, fill.time_ms, tid)

    @property
    def trades(self) -> deque[AccountTrade]:
        self._parse()
        return self._trades

    @property
    def income(self) -> deque[Income]:
        self._parse()
        return self._income


class History:
    def __init__(self, symbols: list[str]) -> None:
        self.trades: dict[str, deque[PublicTrade]] = {s: deque(maxlen=TRADES_KEPT) for s in symbols}
        self.candles: dict[str, deque[Candle]] = {s: deque(maxlen=CANDLES_KEPT) for s in symbols}
        self.accounts: dict[str, AccountHistory] = {}
        self._agg_id = 3_000_000_001

    # ------------------------------------------------------------------------------ market
    def _candle(self, symbol: str, price: Decimal, now_ms: int) -> Candle:
        book = self.candles[symbol]
        start = now_ms - now_ms % MINUTE_MS
        if book and book[-1].open_ms == start:
            return book[-1]
        if book and book[-1].open_ms > start:  # the clock went back (clock_skew fault): keep the last
            return book[-1]
        opening = book[-1].close if book else price
        c = Candle(start, opening, max(opening, price), min(opening, price), price)
        book.append(c)
        return c

    def record_price(self, symbol: str, price: Decimal, now_ms: int) -> None:
        self._candle(symbol, price, now_ms).add_price(price)

    def record_trade(
        self, symbol: str, price: Decimal, qty: Decimal, buyer_maker: bool, trade_id: int, time_ms: int
    ) -> PublicTrade:
        """A public trade (ours or the market's); returns it with its aggregate id."""
        t = PublicTrade(trade_id, self._agg_id, price, qty, time_ms, buyer_maker)
        self._agg_id += 1
        self.trades[symbol].append(t)
        # OHLC follow the last price (what ticker/price says); a trade adds its volume and count
        c = self._candle(symbol, price, time_ms)
        c.volume += qty
        c.quote_volume += qty * price
        c.trades += 1
        c.first_id = trade_id if c.first_id < 0 else c.first_id
        c.last_id = trade_id
        if not buyer_maker:
            c.taker_buy_volume += qty
            c.taker_buy_quote += qty * price
        return t

    # ------------------------------------------------------------------------------ accounts
    def account(self, api_key: str) -> AccountHistory:
        acct = self.accounts.get(api_key)
        if acct is None:
            acct = self.accounts[api_key] = AccountHistory()
        return acct

    def record_event(self, api_key: str, event: dict) -> None:
        """Learn from one user-data event: fills (ORDER_TRADE_UPDATE TRADE) and funding fees."""
        kind = event.get("e")
        if kind == "ORDER_TRADE_UPDATE":
            if event["o"]["x"] == "TRADE":
                self.account(api_key)._raw.append(event["o"])
        elif kind == "ACCOUNT_UPDATE" and event["a"].get("m") == "FUNDING_FEE":
            a = event["a"]
            symbol = a.get("S") or (a["P"][0]["s"] if a.get("P") else "")
            for b in a.get("B", []):
                if Decimal(b.get("bc", "0")):
                    acct = self.account(api_key)
                    acct._parse()  # keep income in time order
                    acct.add_income(symbol, "FUNDING_FEE", Decimal(b["bc"]), int(event["T"]))
