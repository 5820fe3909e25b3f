"""The trades table (text and CSV), shared by ``traytrader journal trades`` and the trades page.
Imports ``core`` only."""

from __future__ import annotations

import csv
import time
from decimal import Decimal
from functools import lru_cache
from typing import IO

from traytrader.core.trades import Trade, totals

COLUMNS = ("#", "opened", "closed", "symbol", "side", "size", "entry", "exit", "pnl", "fees", "net",
           "return", "R", "tier", "duration", "exit reason")


def _num(value: Decimal | None, places: int = 2, signed: bool = False) -> str:
    """For display only (a float formats several times faster than a Decimal)."""
    if value is None:
        return ""
    return f"{float(value):+.{places}f}" if signed else f"{float(value):.{places}f}"


def _plain(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _stamp(at_ms: int | None) -> str:
    if at_ms is None:
        return ""
    return _stamp_second(at_ms // 1000)


@lru_cache(maxsize=4096)
def _stamp_second(second: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))


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


_SIGNED = "{:+.2f}".format
_UNSIGNED = "{:.2f}".format
_SIGNED_1 = "{:+.1f}".format
_PERCENT = "{:+.2f}%".format


def trade_cells(trade: Trade) -> list[str]:
    """The table's cells for one trade (display only: floats format much faster than Decimals)."""
    exit_price, closed = trade.exit_price, trade.closed
    tier = trade.highest_tier
    if closed:
        ret, r = trade.return_pct, trade.r_multiple
        money = [_SIGNED(float(trade.realized_pnl)), _UNSIGNED(float(trade.fees)),
                 _SIGNED(float(trade.net_pnl)), "" if ret is None else _PERCENT(float(ret)),
                 "" if r is None else _SIGNED_1(float(r))]
    else:
        money = ["", _UNSIGNED(float(trade.fees)), "", "", ""]
    return [str(trade.number), _stamp(trade.opened_ms), _stamp(trade.closed_ms), trade.symbol,
            trade.side_word, _plain(trade.size), _plain(_round(trade.entry_price)),
            _plain(_round(exit_price)) if exit_price is not None else "", *money,
            "" if tier is None else str(tier), _duration(trade.duration_ms), trade.exit_reason.value]


def _percent(value: Decimal | None) -> str:
    return "" if value is None else _num(value, signed=True) + "%"


_EIGHT_PLACES = Decimal("1e-8")


def _round(value: Decimal | None) -> Decimal | None:
    """Average prices to 8 decimal places (an average of fills has many)."""
    if value is None:
        return None
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -8:
        return value   # a fill's own price: already short
    return value.quantize(_EIGHT_PLACES).normalize()


def format_trades(trades: list[Trade]) -> list[str]:
    rows = [list(COLUMNS)] + [trade_cells(t) for t in trades]
    right = {0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    # One format string for every row: "{:>5}  {:<19}  …"
    template = "  ".join(f"{{:{'>' if i in right else '<'}{width}}}" for i, width in enumerate(widths))
    lines = [template.format(*row).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
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


def write_csv(trades: list[Trade], out: IO[str]) -> None:
    writer = csv.writer(out)
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


