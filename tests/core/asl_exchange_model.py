"""A small, independent model of the exchange's algo-order book for the pure ASL tests.

It executes the ladder's actions the way Binance documents them (notes sections 3 and 4): a stop
that would trigger at once is refused with -2021; a trailing stop tracks the most favourable
price from its placement and triggers at ``extreme * (1 -/+ cb/100)``; a triggered stop closes
(up to) its quantity at the triggering mark price. Results and stream events go into a delivery
queue; the test decides when (and whether, and how often) each is delivered to the ladder.
It shares no code with ``core.asl`` beyond the input/output dataclasses.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from traytrader.core import asl
from traytrader.core.models import AslSettings, PositionSide, Side

KLINES = Path(__file__).resolve().parents[1].joinpath("data/real/klines")
SERIES_1M_MAY21 = KLINES / "binance_usdm_btcusdt_1m_2025-05-21T16_to_2025-05-23T16.csv"
SERIES_1M_MAY08 = KLINES / "binance_usdm_btcusdt_1m_2025-05-08T12_to_2025-05-09T12.csv"
SERIES_5M_OCT10 = KLINES / "binance_usdm_btcusdt_5m_2025-10-09_to_2025-10-12.csv"


@dataclass(frozen=True)
class Candle:
    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


def load_candles(path: Path) -> list[Candle]:
    with path.open() as handle:
        return [Candle(int(row["open_time_ms"]), Decimal(row["open"]), Decimal(row["high"]),
                       Decimal(row["low"]), Decimal(row["close"])) for row in csv.DictReader(handle)]


def candle_path(candle: Candle) -> list[Decimal]:
    """Four mark prices per candle: open, the extreme on the way, the other extreme, close (a
    rising candle dips first, a falling one spikes first: the conservative order for both)."""
    if candle.close >= candle.open:
        return [candle.open, candle.low, candle.high, candle.close]
    return [candle.open, candle.high, candle.low, candle.close]


@dataclass
class LiveStop:
    spec: asl.StopSpec
    extreme: Decimal | None

    def level(self) -> Decimal:
        if self.spec.style is asl.StopStyle.STOP_MARKET:
            assert self.spec.trigger_price is not None
            return self.spec.trigger_price
        assert self.extreme is not None and self.spec.callback_pct is not None
        factor = self.spec.callback_pct / 100
        return self.extreme * (1 - factor) if self.spec.side is Side.SELL else self.extreme * (1 + factor)

    def hit(self, mark: Decimal) -> bool:
        return mark <= self.level() if self.spec.side is Side.SELL else mark >= self.level()


@dataclass
class Exchange:
    """The truth: what is live on the exchange, and the position."""

    mark: Decimal
    position: Decimal = Decimal(0)
    entry: Decimal = Decimal(0)
    stops: dict[str, LiveStop] = field(default_factory=dict)
    fills: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)  # (cid, price, qty)
    placed: list[str] = field(default_factory=list)  # every accepted stop, in order

    def place(self, spec: asl.StopSpec) -> int | None:
        """Returns None when accepted, or the error code."""
        if spec.style is asl.StopStyle.STOP_MARKET:
            assert spec.trigger_price is not None
            if (spec.side is Side.SELL and spec.trigger_price >= self.mark) or \
                    (spec.side is Side.BUY and spec.trigger_price <= self.mark):
                return -2021
        self.placed.append(spec.client_algo_id)
        self.stops[spec.client_algo_id] = LiveStop(
            spec, self.mark if spec.style is asl.StopStyle.TRAILING else None)
        return None

    def protective(self) -> list[LiveStop]:
        """Live stops that would reduce the current position."""
        if self.position == 0:
            return []
        side = Side.SELL if self.position > 0 else Side.BUY
        return [stop for stop in self.stops.values() if stop.spec.side is side]

    def best_level(self) -> Decimal | None:
        levels = [stop.level() for stop in self.protective()]
        if not levels:
            return None
        return max(levels) if self.position > 0 else min(levels)

    def move(self, mark: Decimal) -> list[tuple[LiveStop, Decimal]]:
        """New mark price: track extremes, trigger stops; returns (stop, filled qty)."""
        self.mark = mark
        fired = []
        for cid, stop in list(self.stops.items()):
            if stop.extreme is not None:
                closes_long = stop.spec.side is Side.SELL
                stop.extreme = max(stop.extreme, mark) if closes_long else min(stop.extreme, mark)
            if stop.hit(mark):
                del self.stops[cid]
                reducing = (stop.spec.side is Side.SELL) == (self.position > 0) and self.position != 0
                qty = min(stop.spec.quantity, abs(self.position)) if reducing else Decimal(0)
                self.position -= qty if self.position > 0 else -qty
                if qty:
                    self.fills.append((cid, mark, qty))
                fired.append((stop, qty))
        return fired


Delivery = asl.AslInput


class Harness:
    """Runs a ladder against the model exchange. ``deliver`` chooses what reaches the ladder next;
    the default delivers everything at once, in order."""

    def __init__(self, settings: AslSettings | None = None, *, mark: Decimal, symbol: str = "BTCUSDT",
                 tick: Decimal = Decimal("0.1")) -> None:
        self.settings = settings or AslSettings()
        self.ladder = asl.Ladder(symbol, PositionSide.BOTH, self.settings, tick)
        self.exchange = Exchange(mark=mark)
        self.symbol = symbol
        self.queue: list[Delivery] = []
        self.notices: list[tuple[int, asl.Notify]] = []
        self.now = 0
        self.on_action: Callable[[asl.AslAction], bool] | None = None  # return False to "lose" it
        self.place_code: Callable[[asl.StopSpec], int | None] = lambda spec: None

    # --- feeding

    def feed(self, event: Delivery) -> None:
        """Deliver ``event`` now: like the driver, stamp it with the time it reaches the ladder."""
        for action in self.ladder.handle(replace(event, now_ms=self.now)):
            self.execute(action)

    def drain(self) -> None:
        while self.queue:
            self.feed(self.queue.pop(0))

    def execute(self, action: asl.AslAction) -> None:
        now = self.now
        lost = self.on_action is not None and not self.on_action(action)
        match action:
            case asl.PlaceStop(spec=spec):
                code = self.place_code(spec) or self.exchange.place(spec)
                if lost:
                    self.queue.append(asl.PlaceResult(spec.client_algo_id, asl.Outcome.UNKNOWN, now))
                elif code is None:
                    self.queue.append(asl.PlaceResult(spec.client_algo_id, asl.Outcome.CONFIRMED, now))
                    self.queue.append(asl.AlgoUpdate(spec.client_algo_id, asl.AlgoStatus.NEW, now))
                else:
                    self.queue.append(asl.PlaceResult(spec.client_algo_id, asl.Outcome.REJECTED, now, code))
            case asl.CancelStop(client_algo_id=cid):
                if lost:  # the request never reached the exchange
                    self.queue.append(asl.CancelResult(cid, asl.Outcome.UNKNOWN, now))
                elif self.exchange.stops.pop(cid, None) is not None:
                    self.queue.append(asl.CancelResult(cid, asl.Outcome.CONFIRMED, now))
                    self.queue.append(asl.AlgoUpdate(cid, asl.AlgoStatus.CANCELED, now))
                else:
                    self.queue.append(asl.CancelResult(cid, asl.Outcome.REJECTED, now, -2011))
            case asl.QueryStops():
                self.queue.append(self.snapshot())
            case asl.ClosePosition():
                self._set_position(Decimal(0), self.exchange.entry)
                self.queue.append(asl.CloseResult(asl.Outcome.CONFIRMED, now))
            case asl.Notify():
                self.notices.append((now, action))

    def snapshot(self) -> asl.OpenStops:
        stops = tuple(asl.ExistingStop(s.spec.client_algo_id, s.spec.side, s.spec.style, s.spec.quantity,
                                       s.spec.trigger_price, s.spec.callback_pct)
                      for s in self.exchange.stops.values())
        return asl.OpenStops(stops, self.now, self.now)

    # --- the market and the user

    def _set_position(self, qty: Decimal, entry: Decimal) -> None:
        self.exchange.position, self.exchange.entry = qty, entry
        self.queue.append(asl.PositionUpdate(qty, entry, self.now))

    def fill(self, qty: Decimal, price: Decimal | None = None) -> None:
        """The user's market order fills at the mark (signed ``qty``): average entry as Binance."""
        price = price or self.exchange.mark
        old, entry = self.exchange.position, self.exchange.entry
        new = old + qty
        if new == 0:
            entry = Decimal(0)
        elif old == 0 or (old > 0) != (new > 0):
            entry = price
        elif abs(new) > abs(old):
            entry = (abs(old) * entry + abs(qty) * price) / abs(new)
        self._set_position(new, entry)

    def mark(self, price: Decimal) -> None:
        before = self.exchange.position
        for stop, qty in self.exchange.move(price):
            cid = stop.spec.client_algo_id
            self.queue.append(asl.AlgoUpdate(cid, asl.AlgoStatus.TRIGGERED, self.now))
            self.queue.append(asl.AlgoUpdate(cid, asl.AlgoStatus.FINISHED, self.now, price, qty))
        if self.exchange.position != before:
            left = self.exchange.position
            self.queue.append(asl.PositionUpdate(left, self.exchange.entry if left else Decimal(0), self.now))
        self.queue.append(asl.MarkPrice(price, self.now))

    def tick(self) -> None:
        self.queue.append(asl.Tick(self.now))
