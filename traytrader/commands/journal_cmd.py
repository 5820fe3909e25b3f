"""``traytrader journal [--last N] [--journal PATH]``: the journal as a readable table."""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING

from traytrader.core.errors import ConfigError

if TYPE_CHECKING:
    from traytrader.engine.journal import JournalEntry


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("journal", help="print the journal (what was sent and answered)",
                                   description="Print the newest journal rows as a table.")
    parser.add_argument("--last", type=int, default=30, metavar="N", help="rows to show (30; 0 = all)")
    parser.add_argument("--journal", metavar="PATH", help="journal file (default: the usual one)")
    parser.add_argument("--data", action="store_true", help="also show each row's (redacted) data")
    parser.set_defaults(func=handler)


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


def handler(args: argparse.Namespace) -> int:
    from traytrader import paths

    if args.last is not None and args.last < 0:
        raise ConfigError("--last must be 0 (all) or a positive number of rows.")
    path = args.journal or str(paths.journal_path())
    from traytrader.engine.journal import read_journal

    entries = read_journal(path, last=args.last or None)
    if not entries:
        print(f"The journal at {path} is empty or does not exist yet.")
        return 0
    print("\n".join(format_rows(entries, with_data=args.data)))
    return 0
