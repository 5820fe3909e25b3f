"""``traytrader journal``: the journal read back.

* ``journal [--last N]`` / ``journal events [--last N] [--data]``: the raw rows as a table
  (requests, responses, stream events, commands), as before.
* ``journal trades [--since DATE] [--symbol S] [--csv]``: one row per trade and totals.
* ``journal trade N --png FILE [--theme dark|light] [--size WxH]``: trade N as a picture.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from traytrader.core.errors import ConfigError

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


def load_trades(path: str, *, with_marks: bool = False) -> list[Trade]:
    from traytrader.core.trades import trades_from_rows
    from traytrader.engine.journal import read_trade_rows

    return trades_from_rows(read_trade_rows(path, with_marks=with_marks), with_marks=with_marks)


def select(trades: list[Trade], *, since_ms: int | None = None, symbol: str | None = None) -> list[Trade]:
    wanted = symbol.upper() if symbol else None
    return [t for t in trades if (since_ms is None or t.opened_ms >= since_ms) and
            (wanted is None or t.symbol == wanted)]


COLUMNS = ("#", "opened", "closed", "symbol", "side", "size", "entry", "exit", "pnl", "fees", "net",
           "return", "R", "tier", "duration", "exit reason")


def _num(value: Decimal | None, places: int = 2, signed: bool = False) -> str:
    if value is None:
        return ""
    return f"{value:+.{places}f}" if signed else f"{value:.{places}f}"


def _plain(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _stamp(at_ms: int | None) -> str:
    return "" if at_ms is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at_ms / 1000))


def _duration(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m{int(seconds % 60):02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def trade_cells(trade: Trade) -> list[str]:
    exit_price = trade.exit_price
    return [str(trade.number), _stamp(trade.opened_ms), _stamp(trade.closed_ms), trade.symbol,
            trade.side_word, _plain(trade.size), _plain(_round(trade.entry_price)),
            _plain(_round(exit_price)) if exit_price is not None else "",
            _num(trade.realized_pnl, signed=True) if trade.closed else "",
            _num(trade.fees), _num(trade.net_pnl, signed=True) if trade.closed else "",
            _percent(trade.return_pct) if trade.closed else "",
            _num(trade.r_multiple, 1, signed=True) if trade.closed else "",
            "" if trade.highest_tier is None else str(trade.highest_tier),
            _duration(trade.duration_ms), trade.exit_reason.value]


def _percent(value: Decimal | None) -> str:
    return "" if value is None else _num(value, signed=True) + "%"


def _round(value: Decimal | None) -> Decimal | None:
    """Average prices to 8 significant places (an average of fills has many)."""
    if value is None:
        return None
    return value.quantize(Decimal("1e-8")).normalize() if value.adjusted() < 8 else value


def format_trades(trades: list[Trade]) -> list[str]:
    from traytrader.core.trades import totals

    rows = [list(COLUMNS)] + [trade_cells(t) for t in trades]
    right = {0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]

    def line(row: list[str]) -> str:
        return "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                         for i, cell in enumerate(row)).rstrip()

    lines = [line(rows[0]), "-" * len(line(rows[0]))] + [line(row) for row in rows[1:]]
    summary = totals(trades)
    still_open = sum(1 for t in trades if not t.closed)
    lines.append("")
    lines.append(f"{summary['trades']} closed trade(s), {summary['wins']} won; realised "
                 f"{summary['realized']:+.2f} USDT, fees {summary['fees']:.2f} USDT, "
                 f"net {summary['net']:+.2f} USDT"
                 + (f"; {still_open} still open" if still_open else "") + ".")
    others: dict[str, Decimal] = {}
    for trade in trades:
        for asset, fee in trade.other_fees:
            others[asset] = others.get(asset, Decimal(0)) + fee
    if others:
        lines.append("Fees paid in other assets (not in the USDT figures): " +
                     ", ".join(f"{_plain(fee)} {asset}" for asset, fee in sorted(others.items())) + ".")
    return lines


def write_csv(trades: list[Trade], out: object) -> None:
    writer = csv.writer(out)  # type: ignore[arg-type]
    writer.writerow(["number", "opened", "closed", "symbol", "side", "size", "entry", "exit",
                     "realized_pnl_usdt", "fees_usdt", "net_pnl_usdt", "return_pct", "r_multiple",
                     "highest_tier", "duration_s", "exit_reason"])
    for t in trades:
        writer.writerow([t.number, _stamp(t.opened_ms), _stamp(t.closed_ms), t.symbol, t.side_word,
                         _plain(t.size), _plain(_round(t.entry_price)), _plain(_round(t.exit_price)),
                         _plain(t.realized_pnl) if t.closed else "", _plain(t.fees),
                         _plain(t.net_pnl) if t.closed else "",
                         _num(t.return_pct, 4) if t.closed else "",
                         _num(t.r_multiple, 4) if t.closed else "",
                         "" if t.highest_tier is None else t.highest_tier,
                         "" if t.duration_ms is None else f"{t.duration_ms / 1000:.3f}", t.exit_reason.value])


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
    trades = load_trades(path, with_marks=True)
    found = next((t for t in trades if t.number == args.number), None)
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
