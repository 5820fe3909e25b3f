"""Composition root of the command line: every sub-command lives in ``traytrader.commands``.

``traytrader send`` is started once per key by compositor shortcuts, so it takes a fast path that
imports neither argparse nor the other sub-commands (see ``commands/send_cmd.py``). Keep this
module's own imports to ``sys``.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not `from typing import ...`: typing costs a send ~3 ms
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

# Order is the order shown in --help.
COMMAND_MODULES = (
    "demo", "run", "sim", "order", "send", "check", "selftest", "journal", "vault",
)


def build_parser() -> argparse.ArgumentParser:
    import argparse
    import importlib
    import importlib.util

    from traytrader import __version__

    parser = argparse.ArgumentParser(
        prog="traytrader",
        description="Hotkey-first system-tray trader for Binance USDⓈ-M futures.",
    )
    parser.add_argument("--version", action="version", version=f"traytrader {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module_name = f"traytrader.commands.{name}_cmd"
        if importlib.util.find_spec(module_name) is None:
            continue  # a sub-command not installed in this build
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Everything traytrader creates (journal, state, vault, sockets, exports) is the user's
    # alone: files 0600 and directories 0700 unless a writer says otherwise.
    import os

    os.umask(0o077)
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["send"]:
        from traytrader.commands.send_cmd import fast_main

        code = fast_main(arguments[1:])
        if code is not None:
            return code
    from traytrader.core.errors import TraytraderError

    parser = build_parser()
    args = parser.parse_args(arguments)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except TraytraderError as exc:
        print(f"traytrader: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
