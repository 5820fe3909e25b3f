"""``traytrader journal``: the journal read back.

* ``journal [--last N]`` / ``journal events [--last N] [--data]``: the raw rows as a table
  (requests, responses, stream events, commands), as before.
* ``journal trades [--since DATE] [--symbol S] [--csv]``: one row per trade and totals.
* ``journal trade N --png FILE [--theme dark|light] [--size WxH]``: trade N as a picture.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING

from traytrader.core.errors import ConfigError
from traytrader.trade_table import format_trades, write_csv

if TYPE_CHECKING:
    from traytrader.core.trades import Trade
    from traytrader.engine.journal import JournalEntry


def _common(parser: argparse.ArgumentParser, *, nested: bool) -> None:
    """``--journal`` on the command and each sub-command (sub-commands must not reset it)."""
    default = argparse.SUPPRESS if nested else None
    parser.add_argument("--journal", metavar="PATH", default=default,
                        help="journal file (default: the usual one)")


def _events_options(parser: argparse.ArgumentParser, *, nested: bool) -> None:
    parser.add_argument("--last", type=int, default=argparse.SUPPRESS if nested else 30, metavar="N",
                        help="rows to show (30; 0 = all)")
    parser.add_argument("--data", action="store_true", default=argparse.SUPPRESS if nested else False,
                        help="also show each row's (redacted) data")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "journal", help="the journal: raw events, trades, a trade's picture",
        description="Read the journal. Without a sub-command: the newest raw rows (as 'events').")
    _common(parser, nested=False)
    _events_options(parser, nested=False)
    parser.set_defaults(func=events_handler)
    views = parser.add_subparsers(dest="view", metavar="VIEW")

    events = views.add_parser("events", help="the raw rows: requests, responses, stream events",
                              description="Print the newest journal rows as a table.")
    _common(events, nested=True)
    _events_options(events, nested=True)
    events.set_defaults(func=events_handler)

    trades = views.add_parser("trades", help="one row per trade, with totals",
                              description="One row per trade (a position from open to flat) and totals.")
    _common(trades, nested=True)
    trades.add_argument("--since", metavar="DATE", help="trades opened on or after DATE (YYYY-MM-DD[ HH:MM])")
    trades.add_argument("--symbol", metavar="S", help="only this symbol (BTCUSDT)")
    trades.add_argument("--csv", action="store_true", help="CSV for spreadsheets instead of a table")
    trades.set_defaults(func=trades_handler)

    trade = views.add_parser("trade", help="one trade as a picture (--png FILE)",
                             description="Draw trade N (its number in 'journal trades') as a PNG.")
    _common(trade, nested=True)
    trade.add_argument("number", type=int, metavar="N", help="the trade's number in 'journal trades'")
    trade.add_argument("--png", metavar="FILE", required=True, help="where to write the picture")
    trade.add_argument("--theme", choices=("dark", "light"), default="dark")
    trade.add_argument("--size", default="800x400", metavar="WxH", help="picture size (800x400)")
    trade.set_defaults(func=trade_handler)


# --- raw events ------------------------------------------------------------------------------------


def format_time(at_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at_ms / 1000)) + f".{at_ms % 1000:03d}"


def format_rows(entries: list[JournalEntry], *, with_data: bool = False, width: int = 70) -> list[str]:
    header = f"{'#':>6}  {'time':<23}  {'kind':<10}  {'symbol':<10}  {'client id':<26}  {'latency':>9}  text"
    lines = [header, "-" * len(header)]
    for entry in entries:
        latency = f"{entry.latency_us / 1000:.2f}ms" if entry.latency_us is not None else ""
        text = entry.text if len(entry.text) <= width else entry.text[: width - 1] + "…"
        lines.append(f"{entry.seq:>6}  {format_time(entry.at_ms):<23}  {entry.kind:<10}  {entry.symbol:<10}  "
                     f"{entry.client_id:<26}  {latency:>9}  {text}")
        if with_data and entry.data:
            try:
                shown = json.dumps(json.loads(entry.data), separators=(",", ":"))
            except ValueError:
                shown = entry.data
            lines.append(f"{'':>8}{shown}")
    return lines


def _path(args: argparse.Namespace) -> str:
    from traytrader import paths

    return getattr(args, "journal", None) or str(paths.journal_path())


def events_handler(args: argparse.Namespace) -> int:
    last = getattr(args, "last", 30)
    if last is not None and last < 0:
        raise ConfigError("--last must be 0 (all) or a positive number of rows.")
    path = _path(args)
    from traytrader.engine.journal import read_journal

    entries = read_journal(path, last=last or None)
    if not entries:
        print(f"The journal at {path} is empty or does not exist yet.")
        return 0
    print("\n".join(format_rows(entries, with_data=getattr(args, "data", False))))
    return 0


# --- trades ----------------------------------------------------------------------------------------


def parse_since(text: str) -> int:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM[:SS]`` (local time) as epoch ms."""
    for pattern in ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return int(datetime.strptime(text.strip(), pattern).timestamp() * 1000)
        except ValueError:
            continue
    raise ConfigError(f"--since {text!r} is not a date; write it as YYYY-MM-DD or 'YYYY-MM-DD HH:MM'.")


def load_trades(path: str, *, with_marks: bool = False, marks_since_ms: int = 0) -> list[Trade]:
    from traytrader.core.trades import trades_from_rows
    from traytrader.engine.journal import read_trade_rows

    # Tens of thousands of rows and fills, none of them in a reference cycle: the cyclic garbage
    # collector would only walk them again and again (a quarter of the time for 10,000 trades).
    enabled = gc.isenabled()
    gc.disable()
    try:
        rows = read_trade_rows(path, with_marks=with_marks, marks_since_ms=marks_since_ms)
        return trades_from_rows(rows, with_marks=with_marks)
    finally:
        if enabled:
            gc.enable()


def select(trades: list[Trade], *, since_ms: int | None = None, symbol: str | None = None) -> list[Trade]:
    wanted = symbol.upper() if symbol else None
    return [t for t in trades if (since_ms is None or t.opened_ms >= since_ms) and
            (wanted is None or t.symbol == wanted)]


def trades_handler(args: argparse.Namespace) -> int:
    path = _path(args)
    since = parse_since(args.since) if args.since else None
    trades = select(load_trades(path), since_ms=since, symbol=args.symbol)
    if args.csv:
        write_csv(trades, sys.stdout)
        return 0
    if not trades:
        selected = " for that selection." if since or args.symbol else "."
        print(f"No trades in the journal at {path}{selected}")
        return 0
    print("\n".join(format_trades(trades)))
    return 0


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size {text!r} is not WIDTHxHEIGHT (like 800x400).") from None
    if not (64 <= width <= 4000 and 48 <= height <= 3000):
        raise ConfigError("--size must be between 64x48 and 4000x3000.")
    return width, height


def trade_handler(args: argparse.Namespace) -> int:
    path = _path(args)
    width, height = parse_size(args.size)
    trades = load_trades(path)
    found = next((t for t in trades if t.number == args.number), None)
    if found is not None:   # again with the mark path, from when the trade opened
        found = load_trades(path, with_marks=True, marks_since_ms=found.opened_ms)[found.number - 1]
    if found is None:
        count = len(trades)
        raise ConfigError(f"There is no trade {args.number} in the journal at {path}; "
                          + (f"the trades are 1 to {count}." if count else "it has no trades yet."))
    from traytrader.trade_chart import save_trade_png

    try:
        written = save_trade_png(found, args.png, width=width, height=height, theme=args.theme)
    except OSError as exc:
        raise ConfigError(f"Cannot write {args.png}: {exc.strerror or exc}.") from None
    print(f"Trade {found.number} ({found.summary()}) drawn to {written}.")
    return 0
