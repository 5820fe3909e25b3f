"""Trades from the journal (pure): the life of each position as one ``Trade``.

A trade is one position on one symbol and position side, from the fill that opens it (flat →
not flat) to the fill that makes it flat again: its entries (the first fill and any scale-ins),
its partial closes and exit, every stop placed or moved by the ASL with its tier, take-profits,
the mark-price path while it was open, realised PnL and fees. Everything comes from journal rows:

* ``fill`` rows (newer journals) and ``stream ORDER_TRADE_UPDATE`` rows with ``x = TRADE`` are
  the fills — the exchange's own numbers: last price ``L``, quantity ``l``, commission ``n`` in
  asset ``N``, realised PnL ``rp``. The engine journals every user-data event in full, so every
  journal, old or new, has the stream rows; a fill row repeats one compactly (read without
  JSON), and an execution seen in both counts once.
* ``asl`` rows (the ladder's notices) are the stop placements and moves, with tier and trigger
  or callback.
* ``stream ALGO_UPDATE`` rows tie an exchange order to the stop that triggered it (``ai`` → the
  order id) and carry take-profit orders.
* ``command`` rows tie a close to the key that sent it (close, flatten, reverse).
* ``mark`` rows (newer journals: ``engine.journal.MarkRecorder``) are the mark-price path.

Rows this module does not understand are skipped, one by one, so a journal of any version reads.
Numbers stay ``Decimal``; times are the journal's epoch milliseconds. No I/O, no clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_ASL_ID = re.compile(r"^ttasl-([hkts])(\d+)-")
_LABELS = {"h": "hard", "k": "held", "t": "trailing", "s": "safety"}
_NAME_SIDE = re.compile(r"^\S+ (long|short)\b")
#: Row kinds and stream texts the derivation reads; a reader may fetch only these (same result).
KINDS = ("fill", "stream", "asl", "command", "mark")
STREAM_TEXTS = ("ORDER_TRADE_UPDATE", "ALGO_UPDATE")
TAKE_PROFIT_TYPES = ("TAKE_PROFIT", "TAKE_PROFIT_MARKET")
_ALGO_NEAR_MS = 60_000
_REPEAT_MS = 10_000      # a fill row follows its stream row within this time


class RowLike(Protocol):
    """What a journal row offers (``engine.journal.JournalEntry`` is one)."""

    seq: int
    at_ms: int
    kind: str
    symbol: str
    client_id: str
    text: str
    data: str


class ExitReason(StrEnum):
    TRAILING_STOP = "trailing stop"
    HARD_STOP = "hard stop"
    SAFETY_STOP = "safety stop"
    SAFETY_CLOSE = "safety close"      # the ASL closed at market (its safety stop would trigger at once)
    TAKE_PROFIT = "take-profit"
    CLOSE_KEY = "close key"
    FLATTEN = "flatten"
    REVERSE = "reverse"
    OPPOSITE_ORDER = "opposite order"  # a buy/sell key against the position
    LIQUIDATION = "liquidation"
    OTHER = "closed elsewhere"         # an order that is not ours (web, app, another tool)
    OPEN = "open"                      # not closed yet (or the journal ends first)


_BY_COMMAND = {"close": ExitReason.CLOSE_KEY, "flatten": ExitReason.FLATTEN,
               "reverse": ExitReason.REVERSE, "buy": ExitReason.OPPOSITE_ORDER,
               "sell": ExitReason.OPPOSITE_ORDER}


class Fill(NamedTuple):
    """One execution (``ORDER_TRADE_UPDATE`` with ``x = TRADE``). Tuples: a journal of 10,000
    trades makes 20,000 of them, and a tuple is several times cheaper to make than a frozen
    dataclass."""

    at_ms: int
    side: str                 # BUY / SELL
    quantity: Decimal         # unsigned
    price: Decimal
    fee: Decimal
    fee_asset: str
    realized: Decimal | None  # ``rp``; None when the row has none (then computed from prices)
    client_id: str
    order_id: str
    order_type: str           # ``ot``: the original type (MARKET, LIMIT, STOP_MARKET, LIQUIDATION…)
    reduce_only: bool


class StopMove(NamedTuple):
    """A stop the ASL placed (confirmed): tier -1 safety, 0 hard, k trailing tier k."""

    at_ms: int
    tier: int
    style: str                         # STOP_MARKET / TRAILING_STOP_MARKET
    trigger_price: Decimal | None
    callback_pct: Decimal | None
    text: str = ""


class TakeProfit(NamedTuple):
    at_ms: int
    trigger_price: Decimal


@dataclass
class Trade:
    """One position's life: its fills, stops, marks and exit, and the figures they make (treat it
    as read-only; it is not frozen because a frozen dataclass costs several times as much to make)."""

    number: int
    symbol: str
    position_side: str
    direction: int                     # +1 long, -1 short
    opened_ms: int
    closed_ms: int | None
    entries: tuple[Fill, ...]
    exits: tuple[Fill, ...]
    stops: tuple[StopMove, ...] = ()
    take_profits: tuple[TakeProfit, ...] = ()
    marks: tuple[tuple[int, Decimal], ...] = ()
    exit_reason: ExitReason = ExitReason.OPEN
    other_fees: tuple[tuple[str, Decimal], ...] = ()   # fees in assets other than USDT
    size: Decimal = ZERO               # the largest the position was (base asset, unsigned)

    @property
    def side_word(self) -> str:
        return "long" if self.direction > 0 else "short"

    # The figures, computed once from the fields above (``__post_init__``).
    entry_price: Decimal = field(init=False, compare=False)
    exit_price: Decimal | None = field(init=False, compare=False)
    realized_pnl: Decimal = field(init=False, compare=False)   # the exchange's ``rp``, before fees
    fees: Decimal = field(init=False, compare=False)           # USDT commissions on every fill
    net_pnl: Decimal = field(init=False, compare=False)        # realised PnL less fees
    return_pct: Decimal | None = field(init=False, compare=False)   # net PnL / entry notional, %
    initial_stop: Decimal | None = field(init=False, compare=False)  # the first fixed stop
    r_multiple: Decimal | None = field(init=False, compare=False)   # net PnL / initial risk
    highest_tier: int | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        entry = _average(self.entries)
        realized = ZERO
        for fill in self.exits:
            realized += fill.realized if fill.realized is not None else \
                (fill.price - entry) * fill.quantity * self.direction
        fees = ZERO
        for fill in self.entries + self.exits:
            if fill.fee_asset in ("USDT", ""):
                fees += fill.fee
        net = realized - fees
        notional = entry * self.size
        fixed = [s for s in self.stops if s.trigger_price is not None]
        first = fixed[0].trigger_price if fixed else None
        stop = next((s.trigger_price for s in fixed if s.tier >= 0), first)
        risk = abs(entry - stop) * self.size if stop is not None else ZERO
        tiers = [s.tier for s in self.stops if s.tier >= 0]
        figures = {"entry_price": entry, "exit_price": _average(self.exits) if self.exits else None,
                   "realized_pnl": realized, "fees": fees, "net_pnl": net,
                   "return_pct": net / notional * _HUNDRED if notional else None,
                   "initial_stop": stop, "r_multiple": net / risk if risk else None,
                   "highest_tier": max(tiers) if tiers else None}
        self.__dict__.update(figures)

    @property
    def notional(self) -> Decimal:
        return self.entry_price * self.size

    @property
    def duration_ms(self) -> int | None:
        return None if self.closed_ms is None else self.closed_ms - self.opened_ms

    @property
    def closed(self) -> bool:
        return self.closed_ms is not None

    def summary(self) -> str:
        """``BTCUSDT long closed by trailing stop: +41.20 USDT, +2.1%, 1.3 R``."""
        head = f"{self.symbol} {self.side_word}"
        if not self.closed:
            return f"{head} open"
        parts = [f"{self.net_pnl:+.2f} USDT"]
        if self.return_pct is not None:
            parts.append(f"{self.return_pct:+.1f}%")
        if self.r_multiple is not None:
            parts.append(f"{self.r_multiple:.1f} R")
        return f"{head} closed by {self.exit_reason.value}: " + ", ".join(parts)


def _average(fills: tuple[Fill, ...]) -> Decimal:
    if len(fills) == 1:
        return fills[0].price
    quantity = value = ZERO
    for fill in fills:
        quantity += fill.quantity
        value += fill.quantity * fill.price
    return value / quantity if quantity else ZERO


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(value if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _load(row: RowLike) -> dict[str, Any] | None:
    if not row.data:
        return None
    try:
        value = json.loads(row.data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# --- row parsing ---------------------------------------------------------------------------------


# The ``fill`` row (newer journals; ``engine.journal.FillRecorder``): one execution in its text, the
# ORDER_TRADE_UPDATE fields below in this order, space-separated, "-" for none. Read without JSON.
FILL_ROW_FIELDS = ("S", "l", "L", "n", "N", "rp", "ps", "ot", "R", "i", "t")


def fill_row_text(order: Mapping[str, Any]) -> str:
    """The text of a ``fill`` row for an ``ORDER_TRADE_UPDATE``'s ``o`` (a trade)."""
    values = []
    for name in FILL_ROW_FIELDS:
        value = order.get(name)
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        values.append("-" if value is None or value == "" or " " in text else text)
    return " ".join(values)


def _make_fill(at_ms: int, symbol: Any, client_id: str, side: Any, quantity: Any, price: Any, fee: Any,
               asset: Any, realized: Any, position_side: Any, order_type: Any, reduce_only: bool,
               order_id: Any, trade_id: Any) -> tuple[str, str, Fill, tuple[str, str, str, str]] | None:
    qty, px = _dec(quantity), _dec(price)
    if not qty or qty <= 0 or not px or px <= 0 or side not in ("BUY", "SELL") or not isinstance(symbol, str):
        return None
    fill = Fill(at_ms, side, qty, px, _dec(fee) or ZERO, str(asset or ""), _dec(realized), client_id,
                str(order_id or ""), str(order_type or ""), reduce_only)
    return symbol, str(position_side or "BOTH"), fill, (symbol, client_id, fill.order_id, str(trade_id or ""))


def fill_of(row: RowLike) -> tuple[str, str, Fill, tuple[str, str, str, str]] | None:
    """(symbol, position side, fill, identity) of a fill row or an ``ORDER_TRADE_UPDATE`` trade
    row, else None. The identity (symbol, client id, order id, trade id) tells the two rows of one execution
    apart from two executions. Times are the journal's clock, not the exchange's ``T``: marks and
    stops are on the journal's clock too."""
    if row.kind == "fill":   # the hot case: a journal of 10,000 trades has 20,000 of these
        parts = row.text.split(" ")
        if len(parts) != len(FILL_ROW_FIELDS):
            return None
        side, quantity, price, fee, asset, realized, position_side, order_type, reduce_only, order_id, \
            trade_id = parts
        try:
            qty, px = Decimal(quantity), Decimal(price)
            paid = ZERO if fee == "-" else Decimal(fee)
            rp = None if realized == "-" else Decimal(realized)
        except (InvalidOperation, ValueError):
            return None
        if not (qty.is_finite() and px.is_finite() and paid.is_finite() and qty > 0 and px > 0) \
                or side not in ("BUY", "SELL") or (rp is not None and not rp.is_finite()):
            return None
        client_id, order_id = row.client_id, "" if order_id == "-" else order_id
        fill = Fill(row.at_ms, side, qty, px, paid, "" if asset == "-" else asset, rp, client_id, order_id,
                    "" if order_type == "-" else order_type, reduce_only == "true")
        return row.symbol, "BOTH" if position_side == "-" else position_side, fill, \
            (row.symbol, client_id, order_id, "" if trade_id == "-" else trade_id)
    if row.kind != "stream" or row.text != "ORDER_TRADE_UPDATE":
        return None
    message = _load(row)
    order = message.get("o") if message else None
    if not isinstance(order, Mapping) or order.get("x") != "TRADE":
        return None
    return _make_fill(row.at_ms, order.get("s"), str(order.get("c", "")), order.get("S"), order.get("l"),
                      order.get("L"), order.get("n"), order.get("N"), order.get("rp"), order.get("ps"),
                      order.get("ot") or order.get("o"), bool(order.get("R")), order.get("i"), order.get("t"))


@dataclass
class _Context:
    """Facts gathered from every row that name the order behind a fill."""

    commands: dict[str, str] = field(default_factory=dict)        # client id → command (close, …)
    # "symbol order id" → (ms, caid, type): the last algo update naming that order
    algo_of_order: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    algo_type: dict[str, str] = field(default_factory=dict)       # caid → algo order type


@dataclass
class _Open:
    """A trade being built."""

    symbol: str
    position_side: str
    direction: int
    opened_ms: int
    quantity: Decimal = ZERO               # unsigned, what is still open
    peak: Decimal = ZERO
    entries: list[Fill] = field(default_factory=list)
    exits: list[Fill] = field(default_factory=list)
    stops: list[StopMove] = field(default_factory=list)
    take_profits: list[TakeProfit] = field(default_factory=list)
    marks: list[tuple[int, Decimal]] = field(default_factory=list)
    algos: dict[str, tuple[str, str]] = field(default_factory=dict)   # exit order id → (caid, type)


def _split(fill: Fill, quantity: Decimal) -> tuple[Fill, Fill]:
    """A fill cut in two at ``quantity``: the fee shared in proportion, the realised PnL all the
    first part's (the closing part; the opening rest realises nothing)."""
    share = quantity / fill.quantity
    first = fill._replace(quantity=quantity, fee=fill.fee * share)
    rest = fill._replace(quantity=fill.quantity - quantity, fee=fill.fee - first.fee,
                         realized=None if fill.realized is None else ZERO)
    return first, rest


def trades_from_rows(rows: Iterable[RowLike], *, with_marks: bool = True,
                     first_number: int = 1) -> list[Trade]:
    """Every trade the rows show, oldest first, numbered from ``first_number``. A position still
    open at the end is the last trade, with ``exit_reason = OPEN``. ``with_marks=False`` skips the
    mark path (the table needs none of it; pictures do). Rows that start where every position was
    flat give the same trades as the whole journal does from there (numbered on from the earlier
    ones): a reader may go on from such a point."""
    context = _Context()
    open_: dict[tuple[str, str], _Open] = {}
    done: list[_Open] = []
    # Executions counted, and when: a fill row repeats the stream row journalled just before it.
    # Only a repeat within moments is one (ids restart with a simulator or a testnet reset).
    seen: dict[tuple[str, str, str, str], int] = {}
    for row in rows:
        kind = row.kind
        if kind == "fill" or (kind == "stream" and row.text == "ORDER_TRADE_UPDATE"):
            parsed = fill_of(row)
            if parsed is not None:
                symbol, position_side, fill, identity = parsed
                before = seen.get(identity)
                if identity[3] and before is not None and 0 <= fill.at_ms - before <= _REPEAT_MS:
                    continue
                seen[identity] = fill.at_ms
                _on_fill(open_, done, symbol, position_side, fill, context)
        elif kind == "stream":
            if row.text == "ALGO_UPDATE":
                _on_algo(row, context, open_, done)
        elif kind == "asl":
            _on_asl(row, open_)
        elif kind == "command":
            if row.client_id:
                context.commands[row.client_id] = row.text.split(" ", 1)[0]
        elif kind == "mark" and with_marks:
            price = _dec(row.text)
            if price is not None and price > 0:
                for (symbol, _), trade in open_.items():
                    if symbol == row.symbol:
                        trade.marks.append((row.at_ms, price))
    built = sorted(done + list(open_.values()), key=lambda t: t.opened_ms)
    return [_finish(index, trade, context) for index, trade in enumerate(built, start=first_number)]


def _on_fill(open_: dict[tuple[str, str], _Open], done: list[_Open], symbol: str, position_side: str,
             fill: Fill, context: _Context) -> None:
    key = (symbol, position_side)
    sign = 1 if fill.side == "BUY" else -1
    trade = open_.get(key)
    if trade is None:
        if fill.reduce_only:
            return  # closes a position opened before the journal began: not a trade we can tell
        direction = sign if position_side == "BOTH" else (1 if position_side == "LONG" else -1)
        trade = open_[key] = _Open(symbol, position_side, direction, fill.at_ms)
    if sign == trade.direction:
        trade.entries.append(fill)
        trade.quantity += fill.quantity
        trade.peak = max(trade.peak, trade.quantity)
        return
    closing = fill
    rest: Fill | None = None
    if fill.quantity > trade.quantity:   # one order through zero: close this trade, open the next
        closing, rest = _split(fill, trade.quantity)
    trade.exits.append(closing)
    known = context.algo_of_order.get(f"{symbol} {fill.order_id}")
    if known is not None and 0 <= fill.at_ms - known[0] <= _ALGO_NEAR_MS:   # the stop's update came first
        trade.algos[fill.order_id] = known[1:]
    trade.quantity -= closing.quantity
    if trade.quantity <= 0:
        done.append(open_.pop(key))
        if rest is not None and position_side == "BOTH" and not rest.reduce_only:
            _on_fill(open_, done, symbol, position_side, rest._replace(realized=ZERO), context)


def _on_algo(row: RowLike, context: _Context, open_: dict[tuple[str, str], _Open],
             done: list[_Open]) -> None:
    message = _load(row)
    order = message.get("o") if message else None
    if not isinstance(order, Mapping):
        return
    client_id, kind = str(order.get("caid", "")), str(order.get("o", ""))
    context.algo_type[client_id] = kind
    actual = str(order.get("ai") or "")
    if actual:
        symbol = str(order.get("s", ""))
        context.algo_of_order[f"{symbol} {actual}"] = (row.at_ms, client_id, kind)
        # The update right after a stop's fill names the order it became: the nearest trade
        # that exited through that order id is the one (ids of another exchange run may repeat).
        for trade in [*open_.values(), *reversed(done[-8:])]:
            if trade.symbol == symbol and any(f.order_id == actual for f in trade.exits):
                trade.algos[actual] = (client_id, kind)
                break
    if kind in TAKE_PROFIT_TYPES and order.get("X") == "NEW":
        trigger = _dec(order.get("tp"))
        side = str(order.get("ps") or "BOTH")
        trade = open_.get((str(order.get("s", "")), side))
        if trade is not None and trigger:
            trade.take_profits.append(TakeProfit(row.at_ms, trigger))


def _on_asl(row: RowLike, open_: dict[tuple[str, str], _Open]) -> None:
    message = _load(row)
    if not message or message.get("notice") not in ("stop_moved", "safety"):
        return
    trigger, callback = _dec(message.get("trigger_price")), _dec(message.get("callback_pct"))
    if trigger is None and callback is None:
        return   # "even the safety stop would trigger": no stop was placed
    tier = message.get("tier", 0)
    tier = tier if isinstance(tier, int) else 0
    if message.get("notice") == "safety":
        tier = -1
    named = _NAME_SIDE.match(row.text)
    direction = 0 if named is None else (1 if named.group(1) == "long" else -1)
    for (symbol, _), trade in open_.items():
        if symbol == row.symbol and direction in (0, trade.direction):
            trade.stops.append(StopMove(row.at_ms, tier, str(message.get("stop_type") or "STOP_MARKET"),
                                        trigger, callback, row.text))


def exit_reason(fill: Fill, context: _Context, algos: Mapping[str, tuple[str, str]]) -> ExitReason:
    """Why the fill that made the position flat happened."""
    client_id = fill.client_id
    if fill.order_type in ("LIQUIDATION", "ADL") or client_id.startswith(("autoclose-", "adl_autoclose")):
        return ExitReason.LIQUIDATION
    command = context.commands.get(client_id)   # a key of ours: its client id is unique
    if command in _BY_COMMAND:
        return _BY_COMMAND[command]
    if _ASL_ID.match(client_id):
        algo_id, algo_kind = client_id, context.algo_type.get(client_id, "")
    else:
        algo_id, algo_kind = algos.get(fill.order_id, (client_id, ""))
        algo_kind = algo_kind or context.algo_type.get(algo_id, "")
    match = _ASL_ID.match(algo_id)
    if match is not None:
        label, tier = _LABELS[match.group(1)], int(match.group(2))
        if label == "safety":
            return ExitReason.SAFETY_STOP
        if label == "trailing" or (label == "held" and tier > 0):
            return ExitReason.TRAILING_STOP
        return ExitReason.HARD_STOP
    if fill.order_type in TAKE_PROFIT_TYPES or algo_kind in TAKE_PROFIT_TYPES:
        return ExitReason.TAKE_PROFIT
    if client_id.startswith("tt") and fill.reduce_only:
        return ExitReason.SAFETY_CLOSE   # our reduce-only market close without a key: the ASL's
    return ExitReason.OTHER


def _finish(number: int, trade: _Open, context: _Context) -> Trade:
    closed = trade.quantity <= 0 and bool(trade.exits)
    other: dict[str, Decimal] = {}
    for fill in trade.entries + trade.exits:
        if fill.fee_asset not in ("USDT", "") and fill.fee:
            other[fill.fee_asset] = other.get(fill.fee_asset, ZERO) + fill.fee
    return Trade(
        number, trade.symbol, trade.position_side, trade.direction, trade.opened_ms,
        trade.exits[-1].at_ms if closed else None, tuple(trade.entries), tuple(trade.exits),
        tuple(trade.stops), tuple(trade.take_profits), tuple(trade.marks),
        exit_reason(trade.exits[-1], context, trade.algos) if closed else ExitReason.OPEN,
        tuple(sorted(other.items())), trade.peak)


# --- the stop as drawn ----------------------------------------------------------------------------


def stop_path(trade: Trade) -> list[tuple[int, Decimal, StopMove]]:
    """Where the stop stood over the trade: ``(ms, price, the stop)`` at each placement and, for a
    trailing stop, at each mark price that moved its level (``extreme * (1 - d * callback)``, the
    extreme the most favourable mark since placement — what the exchange tracks). Never loosens:
    a level worse than the one before is kept at the one before (the ladder replaces a stop only
    by a better one)."""
    d = trade.direction
    moves = sorted(trade.stops, key=lambda s: s.at_ms)
    marks = sorted(trade.marks) or [(trade.opened_ms, trade.entry_price)]
    path: list[tuple[int, Decimal, StopMove]] = []
    level: Decimal | None = None
    for index, move in enumerate(moves):
        until = moves[index + 1].at_ms if index + 1 < len(moves) else None
        if move.trigger_price is not None:
            level = _tighter(level, move.trigger_price, d)
            path.append((move.at_ms, level, move))
            continue
        if move.callback_pct is None:
            continue
        extreme: Decimal | None = None
        before = [price for at, price in marks if at <= move.at_ms]
        extreme = before[-1] if before else trade.entry_price
        level = _tighter(level, _trail(extreme, d, move.callback_pct), d)
        path.append((move.at_ms, level, move))
        for at, price in marks:
            if at <= move.at_ms or (until is not None and at >= until):
                continue
            if d * (price - extreme) > 0:
                extreme = price
                moved = _tighter(level, _trail(extreme, d, move.callback_pct), d)
                if moved != level:
                    level = moved
                    path.append((at, level, move))
    return path


def _trail(extreme: Decimal, d: int, callback_pct: Decimal) -> Decimal:
    return extreme * (1 - d * callback_pct / _HUNDRED)


def _tighter(old: Decimal | None, new: Decimal, d: int) -> Decimal:
    if old is None:
        return new
    return new if d * (new - old) > 0 else old


def totals(trades: Iterable[Trade]) -> dict[str, Any]:
    """Counts and sums over closed trades: number, wins, realised PnL, fees, net PnL."""
    closed = [t for t in trades if t.closed]
    realized = sum((t.realized_pnl for t in closed), ZERO)
    fees = sum((t.fees for t in closed), ZERO)
    wins = sum(1 for t in closed if t.net_pnl > 0)
    return {"trades": len(closed), "wins": wins, "realized": realized, "fees": fees,
            "net": realized - fees}
