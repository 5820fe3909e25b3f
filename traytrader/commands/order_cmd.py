"""``traytrader order buy|sell|close [50%]|breakeven|add|flatten|cancel|reverse --profile NAME``: one
command through the
same engine path as a keypress (warm-up, build, sign, send, answer), then exit.

Prints the result line; the exit code is 0 only when the command succeeded (a fill, an accepted
order, or a finished cancel/close), 1 when it was refused or rejected. A fill returns only once the
resulting position is protected by its stop on the exchange; when it is not within ``--timeout``,
the command says so and exits 1. A reverse answers once, after both legs.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from traytrader.core.errors import TraytraderError

if TYPE_CHECKING:
    from traytrader.engine.api import Event

# Action words, each a ``CommandKind`` value (the engine loads only when an order is sent).
ACTIONS = ("buy", "sell", "close", "flatten", "cancel", "reverse", "breakeven", "add")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from traytrader.commands.common import add_config_option, add_password_options

    parser = subparsers.add_parser(
        "order", help="send one order through the engine (for scripts and tests)",
        description="Warm up, send one command for the profile, print the result, exit (0 on success).")
    parser.add_argument("action", choices=sorted(ACTIONS), help="what to do")
    parser.add_argument("part", nargs="?", default="",
                        help="for close: the part of the position to close, such as 50%% (default: all)")
    parser.add_argument("--profile", help="profile name (default: the config's default profile)")
    parser.add_argument("--journal", metavar="PATH", help="journal file (default: the usual one)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for warm-up and answer")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every engine event")
    add_config_option(parser)
    add_password_options(parser)
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from traytrader import paths
    from traytrader.commands.common import load_app_config, unlock_credentials
    from traytrader.core.models import Environment
    from traytrader.engine.api import (
        Command,
        CommandKind,
        CommandRejected,
        EngineState,
        Notice,
        OrderAccepted,
        StateChanged,
    )
    from traytrader.engine.handle import Engine, run_engine_once

    if args.part and args.action != "close":
        raise TraytraderError(f"{args.action} takes no argument (got {args.part!r}); only close takes a part "
                              "such as 50%.")
    if args.part:
        from traytrader.core.asl_toolkit import parse_fraction
        parse_fraction(args.part)   # a part that is no part is refused before anything starts
    config = load_app_config(args)
    profile = config.profile(args.profile) if args.profile else None
    credentials = unlock_credentials(args, config)
    journal = args.journal or str(paths.journal_path())

    def show(event: Event) -> None:
        if args.verbose:
            print(f"  {event.__class__.__name__}: {event.text}", file=sys.stderr, flush=True)

    engine = Engine(config, credentials, journal_path=journal,
                    active_profile=profile.name if profile else None)
    try:
        event = run_engine_once(engine, Command(CommandKind(args.action), args.part, source="cli"),
                                timeout_s=args.timeout, on_event=show)
    finally:
        engine.stop(timeout=3.0)
    if isinstance(event, StateChanged) and event.state is EngineState.CONNECTING \
            and config.exchange.environment is Environment.SIM:
        raise TraytraderError(f"{event.text} Is the simulator running? Start it with `traytrader sim`.")
    if isinstance(event, CommandRejected | StateChanged | Notice):
        raise TraytraderError(event.text)
    print(event.text, flush=True)
    if isinstance(event, OrderAccepted):
        print("It rests on the book. When it fills, `traytrader run` (tray or console) places its stop; "
              "this command does not stay to do so.", flush=True)
    return 0
