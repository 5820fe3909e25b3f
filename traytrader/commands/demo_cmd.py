"""``traytrader demo``: the whole app against the embedded simulator, in under a minute.

No account, no password: the simulator's DEMO-ONLY credentials (published on purpose, they open
nothing but the local simulator) and the packaged example config pointed at the simulator's
URLs. The journal goes to a fresh temporary directory that is removed at exit, so the user's
real files are never touched. With a display it runs the tray; otherwise (or with ``--console``)
the console front end.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from traytrader.core.errors import ConfigError
from traytrader.core.models import ApiCredentials, AppConfig, Environment, KeyType

DEMO_KEY_NAME = "demo"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "demo", help="try everything against the built-in simulator (no account, no password)",
        description="Start the embedded exchange simulator and the tray (or the console) with "
                    "clearly-labelled demo credentials. Press Ctrl+B to buy, Ctrl+S to sell.")
    parser.add_argument("--console", action="store_true", help="the console front end even with a display")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated random walk (7)")
    parser.add_argument("--action-bar", action="store_true", help="show the action bar at start")
    parser.add_argument("--socket", metavar="PATH",
                        help="control socket for `traytrader send` (default: the usual one if free)")
    parser.add_argument("--keep", action="store_true", help="keep the demo's journal directory")
    parser.set_defaults(func=handler)


def demo_config(rest_url: str, ws_api_url: str, stream_url: str, path: str = "<demo config>") -> AppConfig:
    """The packaged example config, pointed at the simulator, with the demo key name."""
    from traytrader.config import example_config_text, load_config_text

    config = load_config_text(example_config_text(), path)
    exchange = dataclasses.replace(config.exchange, environment=Environment.SIM, key=DEMO_KEY_NAME,
                                   rest_url=rest_url, ws_api_url=ws_api_url, stream_url=stream_url)
    return dataclasses.replace(config, exchange=exchange)


def demo_credentials() -> ApiCredentials:
    from traytrader.sim import DEMO_API_KEY, DEMO_SECRET

    return ApiCredentials(name=DEMO_KEY_NAME, key_type=KeyType.HMAC, api_key=DEMO_API_KEY, secret=DEMO_SECRET)


def _socket_path(requested: str | None, demo_dir: Path) -> Path:
    """The usual socket so that `traytrader send buy` just works, unless another instance holds it."""
    from traytrader import paths
    from traytrader.ui.control_socket import prepare_path

    if requested:
        return Path(requested)
    usual = paths.control_socket_path()
    try:
        prepare_path(usual)
    except (ConfigError, OSError):
        return demo_dir / "control.sock"
    return usual


def banner(rest_url: str, socket_path: Path | None, menu: bool = True) -> str:
    """What the newcomer reads first; ``socket_path`` None means the console front end; ``menu``
    False means a tray icon without a menu (a plain install without PyGObject)."""
    first = f"traytrader DEMO: simulated exchange at {rest_url}, DEMO credentials (not a Binance account)."
    if socket_path is None:
        return (f"{first}\nType buy or sell (b / s), status, help; quit or Ctrl+D to stop. "
                "A stop-loss follows every fill.")
    return (
        f"{first}\n"
        "Press Ctrl+B to buy, Ctrl+S to sell (hotkeys are armed in the demo); a fill notification and a "
        f"stop-loss follow.{' Right-click the tray icon for the menu.' if menu else ''}\n"
        f"From a terminal or a compositor shortcut: traytrader send buy --socket {socket_path}\n"
        + ("Quit from the tray menu or press Ctrl+C here." if menu else "Press Ctrl+C here to quit.")
    )


def handler(args: argparse.Namespace) -> int:
    from traytrader.sim import SimThread, market_like
    from traytrader.ui.tray import TrayUnavailable
    from traytrader.ui.tray_app import has_display

    demo_dir = Path(tempfile.mkdtemp(prefix="traytrader-demo-"))
    sim: Any = SimThread(market_like(port=0, seed=args.seed)).start()
    try:
        config = demo_config(sim.rest_url, sim.ws_api_url, sim.stream_url, path=str(demo_dir / "config.toml"))
        (demo_dir / "config.toml").write_text(_config_note(sim.rest_url), encoding="utf-8")
        journal = demo_dir / "journal.sqlite3"
        if args.console or not has_display():
            # The console demo writes nothing of the user's: its socket lives in the demo's directory.
            socket_path = Path(args.socket) if args.socket else demo_dir / "control.sock"
            return _run_console(config, journal, socket_path)
        try:
            return _run_tray(config, journal, _socket_path(args.socket, demo_dir), args, sim.rest_url)
        except TrayUnavailable as exc:
            print(f"traytrader: {exc} Using the console instead.", file=sys.stderr, flush=True)
            socket_path = Path(args.socket) if args.socket else demo_dir / "control.sock"
            return _run_console(config, journal, socket_path)
    finally:
        sim.stop()
        if not args.keep:
            shutil.rmtree(demo_dir, ignore_errors=True)
        else:
            print(f"The demo's journal is in {demo_dir}.", file=sys.stderr)


def _config_note(rest_url: str) -> str:
    from traytrader.config import example_config_text

    return (f"# traytrader DEMO: this is the packaged example config; the demo points it at the\n"
            f"# simulator on {rest_url} and uses the DEMO credentials. Edits here are not read.\n\n"
            + example_config_text())


def _run_console(config: AppConfig, journal: Path, socket_path: Path) -> int:
    from traytrader.engine.handle import Engine
    from traytrader.ui.console import run_console

    print(banner(config.exchange.rest_url, None), flush=True)
    engine = Engine(config, demo_credentials(), journal_path=journal,
                    active_profile=config.default_profile or config.profiles[0].name)
    return run_console(engine, config, stdin=sys.stdin, stdout=sys.stdout, socket_path=socket_path)


def _run_tray(config: AppConfig, journal: Path, socket_path: Path, args: argparse.Namespace,
              rest_url: str) -> int:
    from traytrader.ui.app import DesktopApp
    from traytrader.ui.tray_app import DesktopOptions, TrayApp, engine_factory, open_path

    app = DesktopApp(config, engine_factory(config, journal), preset_credentials=demo_credentials(),
                     demo=True, open_path=open_path, journal_path=journal)
    options = DesktopOptions(socket_path=socket_path, action_bar=args.action_bar)
    tray_app = TrayApp(app, options)
    options.on_ready = lambda: print(banner(rest_url, socket_path, menu=tray_app.tray.backend != "xorg"),
                                     flush=True)
    return tray_app.run()
