"""Market streams with data besides bookTicker, markPrice and aggTrade: depth (partial and diff),
klines, 24 h tickers (full and mini, one symbol or all) and the undocumented-but-live ``<symbol>@trade``.

Shapes follow the production capture of 2026-02-16 (tests/data/real/market_stream/
``rubytrade_fapi_btcusdt_combined_streams_unwrapped_from_comment_2026-02-16.jsonl``: ``trade``,
``depth5@100ms``, ``depth@100ms`` with ``pu``) and, for klines and tickers, the documentation's
examples (``Kline-Candlestick-Streams``, ``Individual-Symbol-Ticker-Streams``,
``Individual-Symbol-Mini-Ticker-Stream``). Cadences are the documented ones: depth every 250 ms
(``@100ms``/``@500ms`` when asked), klines every 250 ms, tickers every 2 s; a stream only publishes
when someone listens to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from traytrader.sim import reads
from traytrader.sim.endpoints import ENDPOINTS, Ctx
from traytrader.sim.history import PublicTrade
from traytrader.sim.payloads import at_least, fixed

if TYPE_CHECKING:
    from traytrader.sim.server import SimServer

DEPTH_SPEEDS_MS = {"": 250, "@100ms": 100, "@500ms": 500}
KLINE_EVERY_MS = 250


def parse_depth(kind: str) -> tuple[int, int] | None:
    """``depth5@100ms`` -> (5, 100); ``depth`` -> (0, 250) (0 = diff stream); None if not depth."""
    if not kind.startswith("depth"):
        return None
    rest = kind[5:]
    levels, _, speed = rest.partition("@")
    speed = "@" + speed if speed else ""
    if speed not in DEPTH_SPEEDS_MS or levels not in ("", "5", "10", "20"):
        return None
    return (int(levels) if levels else 0, DEPTH_SPEEDS_MS[speed])


class MarketFeeds:
    def __init__(self, server: SimServer) -> None:
        self.server = server
        self._last_push: dict[str, int] = {}
        self._last_u: dict[str, int] = {}  # symbol -> last depth ``u`` sent (diff stream ``pu``)
        self._books: dict[str, dict[str, dict[str, str]]] = {}  # diff stream: last levels sent
        self._kline_open: dict[str, int] = {}  # kline stream -> open time of the candle last sent

    def _ctx(self, now_ms: int, params: dict | None = None) -> Ctx:
        return Ctx(self.server.exchange, "", params or {}, now_ms, self.server)

    def _wanted(self) -> list[str]:
        return [name for name, conns in self.server.market_hub.subs.items() if conns]

    # ------------------------------------------------------------------------------ hooks
    def tick(self, now_ms: int) -> None:
        hub = self.server.market_hub
        if not hub.subs:
            return
        for name in self._wanted():
            sym, _, kind = name.partition("@")
            symbol = sym.upper()
            if symbol not in self.server.market.specs:
                continue
            depth = parse_depth(kind)
            due = now_ms - self._last_push.get(name, 0)
            if depth is not None and due >= depth[1]:
                self._last_push[name] = now_ms
                self._depth(name, symbol, depth[0], now_ms)
            elif kind.startswith("kline_") and kind[6:] in reads.INTERVALS_MS and due >= KLINE_EVERY_MS:
                self._last_push[name] = now_ms
                self._kline(name, symbol, kind[6:], now_ms)

    def trade(self, symbol: str, t: PublicTrade) -> None:
        name = f"{symbol.lower()}@trade"
        if self.server.market_hub.wanted(name):
            spec = self.server.market.specs[symbol]
            self.server.market_hub.publish(
                name,
                {
                    "e": "trade",
                    "E": t.time_ms,
                    "T": t.time_ms,
                    "s": symbol,
                    "t": t.trade_id,
                    "p": at_least(t.price, spec.price_precision),
                    "q": fixed(t.qty, spec.quantity_precision),
                    "X": "MARKET",
                    "m": t.buyer_maker,
                },
            )

    def tickers(self, now_ms: int) -> None:
        hub = self.server.market_hub
        full_all, mini_all = hub.wanted("!ticker@arr"), hub.wanted("!miniTicker@arr")
        fulls, minis = [], []
        for symbol in self.server.market.specs:
            s = symbol.lower()
            want_full, want_mini = hub.wanted(f"{s}@ticker"), hub.wanted(f"{s}@miniTicker")
            if not (want_full or want_mini or full_all or mini_all):
                continue
            full, mini = self.ticker_events(symbol, now_ms)
            if want_full:
                hub.publish(f"{s}@ticker", full)
            if want_mini:
                hub.publish(f"{s}@miniTicker", mini)
            fulls.append(full)
            minis.append(mini)
        if full_all and fulls:
            hub.publish("!ticker@arr", fulls)
        if mini_all and minis:
            hub.publish("!miniTicker@arr", minis)

    # ------------------------------------------------------------------------------ events
    def _depth(self, name: str, symbol: str, levels: int, now_ms: int) -> None:
        snap = ENDPOINTS["depth"].fn(self._ctx(now_ms, {"symbol": symbol, "limit": "20"}))
        u = int(snap["lastUpdateId"])
        pu = self._last_u.get(name, u - 1)
        if u == pu:  # the book has not changed since the last push: nothing to say
            return
        if levels:
            bids, asks = snap["bids"][:levels], snap["asks"][:levels]
        else:  # diff: the levels that changed since the last push (quantity "0.000": level gone)
            before = self._books.get(name, {"b": {}, "a": {}})
            now_b = {p: q for p, q in snap["bids"]}
            now_a = {p: q for p, q in snap["asks"]}
            zero = fixed(reads.ZERO, self.server.market.specs[symbol].quantity_precision)
            bids = [[p, q] for p, q in now_b.items() if before["b"].get(p) != q]
            bids += [[p, zero] for p in before["b"] if p not in now_b]
            asks = [[p, q] for p, q in now_a.items() if before["a"].get(p) != q]
            asks += [[p, zero] for p in before["a"] if p not in now_a]
            self._books[name] = {"b": now_b, "a": now_a}
        self._last_u[name] = u
        self.server.market_hub.publish(
            name,
            {"e": "depthUpdate", "E": now_ms, "T": now_ms, "s": symbol, "U": pu + 1, "u": u, "pu": pu,
             "b": bids, "a": asks},
        )

    def _kline(self, name: str, symbol: str, interval: str, now_ms: int) -> None:
        """The open candle; when a new one has begun, first the previous one's final state (x true)."""
        hub = self.server.market_hub
        rows, span = reads.candles(self._ctx(now_ms), symbol, interval)
        opened = self._kline_open.get(name)
        if opened is not None and rows[-1].open_ms != opened:
            for cd in (cd for cd in rows if cd.open_ms == opened):
                hub.publish(name, self.kline_event(symbol, interval, cd, span, now_ms, True))
        self._kline_open[name] = rows[-1].open_ms
        hub.publish(name, self.kline_event(symbol, interval, rows[-1], span, now_ms, False))

    def kline_event(self, symbol: str, interval: str, cd: Any, span: int, now_ms: int, closed: bool) -> dict:
        spec = self.server.market.specs[symbol]
        pp, qp = spec.price_precision, spec.quantity_precision
        return {
            "e": "kline",
            "E": now_ms,
            "s": symbol,
            "k": {
                "t": cd.open_ms,
                "T": cd.open_ms + span - 1,
                "s": symbol,
                "i": interval,
                "f": cd.first_id,
                "L": cd.last_id,
                "o": at_least(cd.open, pp),
                "c": at_least(cd.close, pp),
                "h": at_least(cd.high, pp),
                "l": at_least(cd.low, pp),
                "v": fixed(cd.volume, qp),
                "n": cd.trades,
                "x": closed,
                "q": fixed(cd.quote_volume, 5),
                "V": fixed(cd.taker_buy_volume, qp),
                "Q": fixed(cd.taker_buy_quote, 5),
                "B": "0",
            },
        }

    def ticker_events(self, symbol: str, now_ms: int) -> tuple[dict[str, Any], dict[str, Any]]:
        t = reads.ticker_24h(self._ctx(now_ms), symbol)
        full = {
            "e": "24hrTicker",
            "E": now_ms,
            "s": symbol,
            "p": t["priceChange"],
            "P": t["priceChangePercent"],
            "w": t["weightedAvgPrice"],
            "c": t["lastPrice"],
            "Q": t["lastQty"],
            "o": t["openPrice"],
            "h": t["highPrice"],
            "l": t["lowPrice"],
            "v": t["volume"],
            "q": t["quoteVolume"],
            "O": t["openTime"],
            "C": t["closeTime"],
            "F": t["firstId"],
            "L": t["lastId"],
            "n": t["count"],
        }
        mini = {
            "e": "24hrMiniTicker",
            "E": now_ms,
            "s": symbol,
            "c": t["lastPrice"],
            "o": t["openPrice"],
            "h": t["highPrice"],
            "l": t["lowPrice"],
            "v": t["volume"],
            "q": t["quoteVolume"],
        }
        return full, mini
