"""The reads a real client makes besides trading: 24 h tickers, klines, public and account trades,
order and algo history, income, commission and symbol configuration.

Shapes and number formats follow the production REST probe of 2026-09-15 (tests/data/real/unattributed/
``unattributed_fapi_PRODUCTION_rest_probe_2026-09-15.jsonl``: ``ticker/24hr``, ``klines``,
``aggTrades``) and, where no capture exists, the documentation's response examples as the official
SDK's models declare them. Each function takes the endpoint context (``endpoints.Ctx``) whose ``sim``
is the running server (its ``history``, price paths and start time).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traytrader.sim import payloads as P
from traytrader.sim.errors import SimError, err, missing
from traytrader.sim.exchange import MAKER_FEE, TAKER_FEE
from traytrader.sim.history import MINUTE_MS, Candle, History
from traytrader.sim.payloads import at_least, fixed
from traytrader.sim.state import ZERO
from traytrader.sim.validation import known_symbol, text

if TYPE_CHECKING:
    from traytrader.sim.endpoints import Ctx

#: Kline intervals Binance accepts (``1s`` answers -1120, as the 2026-09-15 probe shows).
INTERVALS_MS: dict[str, int] = {
    "1m": MINUTE_MS, "3m": 3 * MINUTE_MS, "5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS, "1h": 60 * MINUTE_MS, "2h": 120 * MINUTE_MS, "4h": 240 * MINUTE_MS,
    "6h": 360 * MINUTE_MS, "8h": 480 * MINUTE_MS, "12h": 720 * MINUTE_MS, "1d": 1440 * MINUTE_MS,
    "3d": 3 * 1440 * MINUTE_MS, "1w": 7 * 1440 * MINUTE_MS, "1M": 30 * 1440 * MINUTE_MS,
}
DAY_MS = 24 * 3600 * 1000


# ---------------------------------------------------------------------------------- parameters
def _int(p: dict, name: str, default: int | None = None) -> int | None:
    raw = p.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(str(raw))
    except ValueError:
        raise err(-1130, name) from None


def _limit(p: dict, default: int, most: int) -> int:
    n = _int(p, "limit", default)
    assert n is not None
    if not 1 <= n <= most:
        raise err(-1130, "limit")
    return n


def _window(p: dict, rows: Iterable[Any], time_of: Any, id_of: Any = None, id_param: str = "") -> list:
    """Rows filtered by ``startTime``/``endTime`` (and ``<id_param>`` as a lower bound), oldest first."""
    start, end = _int(p, "startTime"), _int(p, "endTime")
    first_id = _int(p, id_param) if id_param else None
    out = []
    for r in rows:
        t = time_of(r)
        if (start is not None and t < start) or (end is not None and t > end):
            continue
        if first_id is not None and id_of(r) < first_id:
            continue
        out.append(r)
    return out


def _recent(rows: list, p: dict, default: int, most: int, from_start: bool) -> list:
    n = _limit(p, default, most)
    return rows[:n] if from_start else rows[-n:]


def _symbol(c: Ctx) -> str:
    if text(c.params, "symbol") is None:
        raise missing("symbol")
    return known_symbol(c.params, c.ex.specs)


# ---------------------------------------------------------------------------------- candles
def _csv_volumes(path: str) -> list[Decimal]:
    """The volume column of a ``--prices`` CSV (``load_candles`` keeps only the prices)."""
    out: list[Decimal] = []
    with Path(path).open(newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.reader(fh), 1):
            if not row or (n == 1 and not row[0].strip().lstrip("-").isdigit()):
                continue
            try:
                out.append(Decimal(row[5]) if len(row) > 5 else ZERO)
            except InvalidOperation:
                out.append(ZERO)
    return out


def _replayed(c: Ctx, symbol: str) -> list[Candle] | None:
    """The CSV candles a replayed symbol has gone through so far, stamped in server time (one CSV
    candle lasts ``candle_ms / speed`` of it); None when the symbol walks."""
    sim = c.sim
    path = sim.paths[symbol]
    if not path.candles:
        return None
    volumes = sim.replay_volumes.get(symbol)
    if volumes is None:
        source = sim.replay_sources.get(symbol)
        volumes = sim.replay_volumes[symbol] = _csv_volumes(source) if source else []
    span = max(1, int(path.candle_ms / path.speed))
    done = int(path._t // path.candle_ms)
    out = []
    for k in range(max(0, done - 1499), done + 1):
        src = path.candles[k % len(path.candles)]
        vol = volumes[k % len(volumes)] if volumes else ZERO
        if k == done:  # in progress: what the path has visited of it so far
            seen = [src.open, path.price]
            frac = (path._t - done * path.candle_ms) / path.candle_ms
            seen += list(src.waypoints()[1 : 1 + min(2, int(frac * 3))])
            cndl = Candle(0, src.open, max(seen), min(seen), path.price, vol * Decimal(repr(min(1.0, frac))))
        else:
            cndl = Candle(0, src.open, src.high, src.low, src.close, vol)
        cndl.open_ms = sim.started_ms + k * span
        cndl.quote_volume = cndl.volume * (cndl.open + cndl.close) / 2
        out.append(cndl)
    return out


def _merge(candles: list[Candle], group_of: Any) -> list[Candle]:
    """Consecutive candles with the same ``group_of(candle)`` merged into one opening at that value."""
    out: list[Candle] = []
    for cd in candles:
        start = group_of(cd)
        if out and out[-1].open_ms == start:
            m = out[-1]
            m.high, m.low, m.close = max(m.high, cd.high), min(m.low, cd.low), cd.close
            m.volume += cd.volume
            m.quote_volume += cd.quote_volume
            m.trades += cd.trades
            m.taker_buy_volume += cd.taker_buy_volume
            m.taker_buy_quote += cd.taker_buy_quote
            m.first_id = m.first_id if m.first_id >= 0 else cd.first_id
            m.last_id = cd.last_id if cd.last_id >= 0 else m.last_id
        else:
            out.append(Candle(start, cd.open, cd.high, cd.low, cd.close, cd.volume, cd.quote_volume,
                              cd.trades, cd.taker_buy_volume, cd.taker_buy_quote, cd.first_id, cd.last_id))
    return out


def candles(c: Ctx, symbol: str, interval: str) -> tuple[list[Candle], int]:
    """``symbol``'s candles of ``interval`` (oldest first) and the length of one in server ms."""
    if interval not in INTERVALS_MS:
        raise SimError(-1120, "Invalid interval.")
    replay = _replayed(c, symbol)
    if replay is not None:
        path = c.sim.paths[symbol]
        per = max(1, INTERVALS_MS[interval] // path.candle_ms)
        span = max(1, int(path.candle_ms / path.speed)) * per
        origin = c.sim.started_ms
        grouped = _merge(replay, lambda cd: origin + (cd.open_ms - origin) // span * span)
        return grouped, span
    history: History = c.sim.history
    base = list(history.candles[symbol])
    q = c.ex.quotes[symbol]
    if not base:  # nothing moved yet: one candle at the current price
        history.record_price(symbol, q.last, c.now_ms)
        base = list(history.candles[symbol])
    iv = INTERVALS_MS[interval]
    return (_merge(base, lambda cd: cd.open_ms - cd.open_ms % iv) if iv > MINUTE_MS else base), iv


def kline_row(cd: Candle, span_ms: int, pp: int, qp: int) -> list:
    return [
        cd.open_ms,
        at_least(cd.open, pp),
        at_least(cd.high, pp),
        at_least(cd.low, pp),
        at_least(cd.close, pp),
        fixed(cd.volume, qp),
        cd.open_ms + span_ms - 1,
        fixed(cd.quote_volume, 5),
        cd.trades,
        fixed(cd.taker_buy_volume, qp),
        fixed(cd.taker_buy_quote, 5),
        "0",
    ]


def klines(c: Ctx) -> list[list]:
    sym = _symbol(c)
    interval = text(c.params, "interval")
    if interval is None:
        raise missing("interval")
    rows, span = candles(c, sym, interval)
    rows = _window(c.params, rows, lambda cd: cd.open_ms)
    rows = _recent(rows, c.params, 500, 1500, from_start=c.params.get("startTime") not in (None, ""))
    spec = c.ex.specs[sym]
    return [kline_row(cd, span, spec.price_precision, spec.quantity_precision) for cd in rows]


def klines_weight(p: dict) -> int:
    """Documented: [1,100) 1; [100,500) 2; [500,1000] 5; > 1000 10 (default limit 500)."""
    try:
        n = int(p.get("limit") or 500)
    except ValueError:
        n = 500
    return 1 if n < 100 else 2 if n < 500 else 5 if n <= 1000 else 10


# ---------------------------------------------------------------------------------- tickers
def ticker_24h(c: Ctx, symbol: str) -> dict:
    """Rolling 24 h statistics from the one-minute candles (``ticker/24hr`` 2026-09-15 probe format)."""
    spec, q = c.ex.specs[symbol], c.ex.quotes[symbol]
    pp, qp = spec.price_precision, spec.quantity_precision
    rows, _ = candles(c, symbol, "1m")
    since = c.now_ms - DAY_MS
    rows = [cd for cd in rows if cd.open_ms >= since - MINUTE_MS] or rows[-1:]
    open_price = rows[0].open
    high = max(max(cd.high for cd in rows), q.last)
    low = min(min(cd.low for cd in rows), q.last)
    volume = sum((cd.volume for cd in rows), ZERO)
    quote = sum((cd.quote_volume for cd in rows), ZERO)
    trades = [t for t in c.sim.history.trades[symbol] if t.time_ms >= since]
    change = q.last - open_price
    out = {
        "symbol": symbol,
        "priceChange": at_least(change, pp),
        "priceChangePercent": fixed(change / open_price * 100 if open_price else ZERO, 3),
        "weightedAvgPrice": fixed(quote / volume if volume else q.last, pp),
        "lastPrice": at_least(q.last, pp),
        "lastQty": fixed(trades[-1].qty if trades else ZERO, qp),
        "openPrice": at_least(open_price, pp),
        "highPrice": at_least(high, pp),
        "lowPrice": at_least(low, pp),
        "volume": fixed(volume, qp),
        "quoteVolume": fixed(quote, 2),
        "openTime": max(rows[0].open_ms, since),
        "closeTime": c.now_ms,
        "firstId": trades[0].trade_id if trades else -1,
        "lastId": trades[-1].trade_id if trades else -1,
        "count": len(trades),
    }
    return dict(sorted(out.items()))  # the production probe's key order is alphabetical


def ticker_24h_all(c: Ctx) -> Any:
    sym = text(c.params, "symbol")
    if sym is not None:
        return ticker_24h(c, known_symbol(c.params, c.ex.specs))
    return [ticker_24h(c, s) for s in c.ex.specs]


# ---------------------------------------------------------------------------------- public trades
def trades(c: Ctx) -> list[dict]:
    sym = _symbol(c)
    spec = c.ex.specs[sym]
    rows = _recent(list(c.sim.history.trades[sym]), c.params, 500, 1000, from_start=False)
    return [
        {
            "id": t.trade_id,
            "price": at_least(t.price, spec.price_precision),
            "qty": fixed(t.qty, spec.quantity_precision),
            "quoteQty": fixed(t.price * t.qty, 5),
            "time": t.time_ms,
            "isBuyerMaker": t.buyer_maker,
            "isRPITrade": False,
        }
        for t in rows
    ]


def agg_trades(c: Ctx) -> list[dict]:
    sym = _symbol(c)
    spec = c.ex.specs[sym]
    rows = _window(c.params, c.sim.history.trades[sym], lambda t: t.time_ms, lambda t: t.agg_id, "fromId")
    explicit = any(c.params.get(k) not in (None, "") for k in ("fromId", "startTime"))
    rows = _recent(rows, c.params, 500, 1000, from_start=explicit)
    qp = spec.quantity_precision
    return [
        {
            "a": t.agg_id,
            "p": at_least(t.price, spec.price_precision),
            "q": fixed(t.qty, qp),
            "nq": fixed(t.qty, qp),
            "f": t.trade_id,
            "l": t.trade_id,
            "T": t.time_ms,
            "m": t.buyer_maker,
        }
        for t in rows
    ]


# ---------------------------------------------------------------------------------- account reads
def all_orders(c: Ctx) -> list[dict]:
    sym = _symbol(c)
    rows = [o for o in c.ex.orders.values() if o.api_key == c.api_key and o.symbol == sym]
    rows = _window(c.params, rows, lambda o: o.create_ms, lambda o: o.order_id, "orderId")
    rows = _recent(rows, c.params, 500, 1000, from_start=c.params.get("orderId") not in (None, ""))
    spec = c.ex.specs[sym]
    return [P.order_query(o, spec) for o in rows]


def all_algo_orders(c: Ctx) -> list[dict]:
    sym = _symbol(c)
    rows = [a for a in c.ex.algos.values() if a.api_key == c.api_key and a.symbol == sym]
    rows = _window(c.params, rows, lambda a: a.create_ms, lambda a: a.algo_id, "algoId")
    page = _int(c.params, "page", 1) or 1
    n = _limit(c.params, 500, 1000)
    rows = rows[(page - 1) * n : page * n] if c.params.get("page") else rows[-n:]
    spec = c.ex.specs[sym]
    return [P.algo_query(a, spec, c.ex.orders.get(a.actual_order_id or 0)) for a in rows]


def open_order(c: Ctx) -> dict:
    """``GET /fapi/v1/openOrder``: one open order; a closed or unknown one is -2013."""
    o = c.ex._find(c.ex.accounts[c.api_key], c.params)
    if o is None or not o.is_open:
        raise err(-2013)
    return P.order_query(o, c.ex.specs[o.symbol])


def user_trades(c: Ctx) -> list[dict]:
    sym = _symbol(c)
    spec = c.ex.specs[sym]
    order_id = _int(c.params, "orderId")
    rows = [t for t in c.sim.history.account(c.api_key).trades
            if t.symbol == sym and (order_id is None or t.order_id == order_id)]
    rows = _window(c.params, rows, lambda t: t.time_ms, lambda t: t.trade_id, "fromId")
    rows = _recent(rows, c.params, 500, 1000, from_start=c.params.get("fromId") not in (None, ""))
    pp, qp = spec.price_precision, spec.quantity_precision
    return [
        {
            "buyer": t.side == "BUY",
            "commission": fixed(t.commission, 8),
            "commissionAsset": "USDT",
            "id": t.trade_id,
            "maker": t.maker,
            "orderId": t.order_id,
            "price": at_least(t.price, pp),
            "qty": fixed(t.qty, qp),
            "quoteQty": fixed(t.qty * t.price, 5),
            "realizedPnl": fixed(t.realized, 8),
            "side": t.side,
            "positionSide": t.position_side,
            "symbol": t.symbol,
            "time": t.time_ms,
        }
        for t in rows
    ]


def income(c: Ctx) -> list[dict]:
    sym = text(c.params, "symbol")
    if sym is not None:
        known_symbol(c.params, c.ex.specs)
    kind = text(c.params, "incomeType")
    rows = [r for r in c.sim.history.account(c.api_key).income
            if (sym is None or r.symbol == sym) and (kind is None or r.income_type == kind)]
    start = c.params.get("startTime")
    if start in (None, "") and c.params.get("endTime") in (None, ""):
        rows = [r for r in rows if r.time_ms >= c.now_ms - 7 * DAY_MS]  # "the last 7 days' data"
    rows = _window(c.params, rows, lambda r: r.time_ms)
    page = _int(c.params, "page", 1) or 1
    n = _limit(c.params, 100, 1000)
    rows = rows[(page - 1) * n : page * n]
    return [
        {
            "symbol": r.symbol,
            "incomeType": r.income_type,
            "income": fixed(r.amount, 8),
            "asset": "USDT",
            "info": r.info or r.income_type,
            "time": r.time_ms,
            "tranId": r.tran_id,
            "tradeId": r.trade_id,
        }
        for r in rows
    ]


def commission_rate(c: Ctx) -> dict:
    sym = _symbol(c)
    return {
        "symbol": sym,
        "makerCommissionRate": f"{MAKER_FEE:f}",
        "takerCommissionRate": f"{TAKER_FEE:f}",
        "rpiCommissionRate": "0",
    }


def symbol_config(c: Ctx) -> list[dict]:
    acct = c.ex.accounts[c.api_key]
    sym = text(c.params, "symbol")
    symbols = [known_symbol(c.params, c.ex.specs)] if sym is not None else list(c.ex.specs)
    out = []
    for s in symbols:
        lev = acct.leverage.get(s, 20)
        out.append(
            {
                "symbol": s,
                "marginType": "ISOLATED" if acct.isolated.get(s, False) else "CROSSED",
                "isAutoAddMargin": False,
                "leverage": lev,
                "maxNotionalValue": P.plain(c.ex.specs[s].max_notional_for(lev)),
            }
        )
    return out
