"""``traytrader send buy|sell|close [50%]|breakeven|add|flatten|cancel|profile NAME|status``: drive
the running instance.

For Wayland (no global hotkeys), compositor shortcuts, window-manager bindings and macro pads:
the request goes over the control channel to the already-warm engine. Prints the reply; exit 0
when it succeeded, 1 (with the reason on stderr) when it was refused or could not be delivered.

Why two entry points: a compositor starts a process per key, so the process is the latency.
``fast_main`` (called by ``traytrader.cli.main`` before anything else is imported) reads the
arguments by hand and imports only ``control_wire``; whatever it does not recognise (``--help``, a
mistake) goes to the ordinary ``argparse`` parser below, which says it the usual way.
"""

from __future__ import annotations

import os
import sys

from traytrader.ui import control_wire

TYPE_CHECKING = False  # not `from typing import ...`: typing costs a send ~3 ms
if TYPE_CHECKING:
    import argparse

OPTIONS = ("--socket", "--timeout")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "send", help="send buy/sell/close/flatten/cancel/profile NAME to the running traytrader",
        description="Send one command to the running traytrader over its control channel "
                    "(for Wayland, compositor shortcuts, macro pads).")
    parser.add_argument("request", choices=list(control_wire.REQUEST_WORDS), help="what to do")
    parser.add_argument("name", nargs="?", default="",
                        help="the profile name (for `profile`), or the part to close (`close 50%%`)")
    parser.add_argument("--socket", metavar="PATH",
                        help="control socket or endpoint file (default: the per-user runtime dir)")
    parser.add_argument("--timeout", type=float, default=control_wire.DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"seconds to wait, connecting included ({control_wire.DEFAULT_TIMEOUT_S:g})")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    return send(args.request, args.name, args.socket, args.timeout)


def fast_main(argv: list[str]) -> int | None:
    """``send``'s arguments without argparse; None when they need the full parser (help, a mistake)."""
    words: list[str] = []
    values: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, equals, value = arg.partition("=")
        if name in OPTIONS and equals:
            values[name] = value
        elif arg in OPTIONS and i + 1 < len(argv):
            values[arg] = argv[i + 1]
            i += 1
        elif arg.startswith("-") or len(words) == 2:
            return None
        else:
            words.append(arg)
        i += 1
    if not words or words[0] not in control_wire.REQUEST_WORDS:
        return None
    try:
        timeout = float(values.get("--timeout", control_wire.DEFAULT_TIMEOUT_S))
    except ValueError:
        return None
    return send(words[0], words[1] if len(words) > 1 else "", values.get("--socket"), timeout)


def send(request: str, name: str, socket_path: str | None, timeout: float) -> int:
    """Deliver one request and print its answer; every failure is one sentence on stderr."""
    if not timeout > 0:
        return _fail("--timeout must be more than 0 seconds.", 2)
    line = f"{request} {name}".strip()
    try:
        control_wire.split_request(line)  # malformed: said here, running instance or not
        reply = control_wire.send_request(socket_path or default_endpoint(), line, timeout)
    except control_wire.SendFailed as exc:
        return _fail(str(exc))
    word, _, sentence = reply.partition(" ")
    if control_wire.reply_ok(reply):
        print(sentence)
        return 0
    return _fail(sentence or f"traytrader answered {word!r}.")


def default_endpoint() -> str:
    """``paths.control_socket_path()``, without importing ``paths`` (platformdirs, pathlib) when the
    runtime directory decides it, as it does on every systemd desktop."""
    runtime = control_wire.runtime_endpoint()
    if runtime is not None:
        return runtime
    from traytrader import paths

    return os.fspath(paths.control_socket_path())


def _fail(sentence: str, code: int = 1) -> int:
    print(f"traytrader: {sentence}", file=sys.stderr)
    return code
