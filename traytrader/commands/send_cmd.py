"""``traytrader send buy|sell|close [50%]|breakeven|add|flatten|cancel|profile NAME|status``: drive
the running instance.

For Wayland (no global hotkeys), compositor shortcuts, window-manager bindings and macro pads:
the request goes over the control socket to the already-warm engine. Prints the reply; exit 0
when it succeeded, 1 (with the reason on stderr) when it was refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from traytrader.core.errors import CommandRefused
from traytrader.ui.control_socket import WORDS, parse_request, reply_ok, send_request


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "send", help="send buy/sell/close/flatten/cancel/profile NAME to the running traytrader",
        description="Send one command to the running traytrader over its control socket "
                    "(for Wayland, compositor shortcuts, macro pads).")
    parser.add_argument("request", choices=list(WORDS), help="what to do")
    parser.add_argument("name", nargs="?", default="",
                        help="the profile name (for `profile`), or the part to close (`close 50%%`)")
    parser.add_argument("--socket", metavar="PATH", help="control socket (default: the per-user runtime dir)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to wait (10)")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from traytrader import paths

    path = Path(args.socket) if args.socket else paths.control_socket_path()
    line = f"{args.request} {args.name}".strip()
    parse_request(line)  # a malformed request is refused here, running instance or not
    reply = send_request(path, line, timeout=args.timeout)
    word, _, sentence = reply.partition(" ")
    if reply_ok(reply):
        print(sentence)
        return 0
    raise CommandRefused(sentence or f"traytrader answered {word!r}.")
