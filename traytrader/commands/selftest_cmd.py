"""``traytrader selftest [--config PATH] [--trade]``: does traytrader work on *this* account, on
*this* exchange, today?

Read-only by default; ``--trade`` adds the smallest real round trip (``engine/selftest_trade.py``).
Prints one line per check and writes a redacted report file to attach to a bug report. Exit 0 only
when every check passed.

On ``live``, ``--trade`` asks the user to type the symbol and the notional at a terminal; with no
terminal (a password file and a pipe) it refuses before connecting, so no script can start a live
trade by accident.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from traytrader.commands.common import (
    add_config_option,
    add_password_options,
    load_app_config,
    unlock_credentials,
)
from traytrader.core.errors import TraytraderError
from traytrader.core.models import Environment


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "selftest",
        help="prove on your own account that traytrader works with the exchange today",
        description="Check, read-only, every assumption traytrader makes about the exchange (time, key,"
        " WS API, exchange info, settings, streams, rate limits). --trade adds the smallest real"
        " round trip: a minimum order, its protective stop, a make-before-break replacement,"
        " the close; the account is left as it was found. Exit 0 only when all checks pass.",
    )
    add_config_option(parser)
    add_password_options(parser)
    parser.add_argument(
        "--trade",
        action="store_true",
        help="also trade the minimum size once and close it (on live: asks you to confirm)",
    )
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="the profile whose symbol --trade uses (default: the default profile)",
    )
    parser.add_argument(
        "--report",
        metavar="PATH",
        type=Path,
        help="where to write the report (default: selftest-<environment>-<time>.txt in the"
        " current directory)",
    )
    parser.add_argument(
        "--balances",
        action="store_true",
        help="show the USDT wallet before and after --trade (left out by default)",
    )
    parser.set_defaults(func=handler)


def _terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()


def confirm_live(symbol: str, notional: Decimal) -> Decimal | None:
    """Ask at the terminal: the symbol typed exactly, then the notional; None when it does not match."""
    print(
        f"\nLIVE: --trade will BUY about {notional} USDT of {symbol} with real money, protect it with a"
        " stop, then close it.",
        flush=True,
    )
    typed = input(f"Type the symbol to trade ({symbol}) or anything else to cancel: ").strip().upper()
    if typed != symbol:
        return None
    answer = input(f"Type the notional in USDT (about {notional}): ").strip()
    try:
        value = Decimal(answer)
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None


def handler(args: argparse.Namespace) -> int:
    from traytrader.engine.selftest import run_selftest_sync
    from traytrader.engine.selftest_report import write_report

    config = load_app_config(args)
    env = config.exchange.environment
    if args.profile:
        config.profile(args.profile)  # a wrong name fails now, with the list of names
    if args.trade and env is Environment.LIVE and not _terminal():
        raise TraytraderError(
            "On live, selftest --trade asks you to type the symbol and the notional at a"
            " terminal; it never runs from a password file or a pipe alone."
        )
    credentials = unlock_credentials(args, config)
    print(
        f"traytrader selftest: environment {env.value}, {config.exchange.rest_url}"
        + (", with --trade" if args.trade else ", read-only"),
        flush=True,
    )
    report = run_selftest_sync(
        config,
        credentials,
        lambda line: print(line, flush=True),
        trade=args.trade,
        profile_name=args.profile,
        confirm=confirm_live if env is Environment.LIVE else None,
        balances=args.balances,
    )
    path = args.report or Path(f"selftest-{env.value}-{time.strftime('%Y%m%d-%H%M%S')}.txt")
    try:
        write_report(path, report.file_text(environment=env.value, config_path=config.path, trade=args.trade))
        where = f"Report: {path}"
    except OSError as exc:
        where = f"The report could not be written to {path} ({exc.strerror or exc})."
    print(report.summary(), where, flush=True)
    return 1 if report.failures else 0
