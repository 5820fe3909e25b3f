"""``traytrader run [--console]``: the app. The tray when a display is available, else (or with
``--console``) the console front end reading commands from the terminal or stdin."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from traytrader.commands.common import add_config_option, add_password_options

    parser = subparsers.add_parser("run", help="run the app (tray, or --console)",
                                   description="Unlock the vault, warm up, and trade from the tray or "
                                               "the console.")
    parser.add_argument("--console", action="store_true", help="the console front end even with a display")
    parser.add_argument("--profile", help="profile to start with (default: the config's default profile)")
    parser.add_argument("--journal", metavar="PATH", help="journal file (default: the usual one)")
    parser.add_argument("--socket", metavar="PATH",
                        help="control socket for `traytrader send` (default: the per-user runtime dir)")
    add_config_option(parser)
    add_password_options(parser)
    parser.set_defaults(func=handler)


def display_available() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def handler(args: argparse.Namespace) -> int:
    from traytrader.commands.common import load_app_config

    config = load_app_config(args)
    if not args.console and display_available():
        try:
            from traytrader.ui.tray import TrayUnavailable
            from traytrader.ui.tray_app import run_tray
        except ImportError as exc:
            print(f"traytrader: the tray is not available ({exc}); using the console.", file=sys.stderr)
        else:
            try:
                return run_tray(config, args)
            except TrayUnavailable as exc:
                print(f"traytrader: {exc} Using the console instead.", file=sys.stderr, flush=True)
    return run_console_mode(config, args)


def run_console_mode(config: object, args: argparse.Namespace) -> int:
    from traytrader import paths
    from traytrader.commands.common import unlock_credentials
    from traytrader.core.models import AppConfig
    from traytrader.engine.handle import Engine
    from traytrader.ui.console import run_console

    assert isinstance(config, AppConfig)
    profile = config.profile(args.profile).name if getattr(args, "profile", None) else None
    credentials = unlock_credentials(args, config)
    engine = Engine(config, credentials, journal_path=args.journal or str(paths.journal_path()),
                    active_profile=profile)
    socket_path = Path(args.socket) if getattr(args, "socket", None) else paths.control_socket_path()
    return run_console(engine, config, stdin=sys.stdin, stdout=sys.stdout,
                       socket_path=socket_path)   # Unix socket, or loopback TCP where there is none
