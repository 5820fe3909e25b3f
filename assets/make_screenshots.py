"""Take the README's screenshots under a virtual desktop: the tray menu, the action bar, a notification.

    .venv/bin/python assets/make_screenshots.py      # needs xvfb trayer xdotool imagemagick dunst

Runs the real demo (simulator + engine) in-process, drawn by dunst (a real notification daemon)
and docked in trayer, and writes docs/screenshots/{tray-menu,action-bar,notification,desktop}.png.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "desktop"))
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "screenshots"
DUNSTRC = """
[global]
    font = DejaVu Sans 10
    origin = top-right
    offset = 12x40
    width = 380
    frame_width = 1
    frame_color = "#64748b"
[urgency_normal]
    background = "#1e293b"
    foreground = "#f8fafc"
    timeout = 0
[urgency_critical]
    background = "#7f1d1d"
    foreground = "#fef2f2"
    timeout = 0
"""


def shot(name: str, box: tuple[int, int, int, int]) -> Path:
    """Screenshot of the root window cropped to ``box`` (x, y, width, height)."""
    x, y, w, h = box
    path = OUT / f"{name}.png"
    subprocess.run(["import", "-window", "root", "-crop", f"{w}x{h}+{x}+{y}", "+repage", str(path)],
                   check=True, env=os.environ.copy())
    return path


def wait(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.05)


def main() -> int:
    from session import virtual_desktop

    OUT.mkdir(parents=True, exist_ok=True)
    with virtual_desktop(record_notifications=False) as desktop:
        rc = desktop.tmp / "dunstrc"
        rc.write_text(DUNSTRC)
        dunst = subprocess.Popen(["dunst", "-config", str(rc)], env=os.environ.copy(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            return _take(desktop)
        finally:
            dunst.terminate()
            dunst.wait(5)


def _take(desktop) -> int:  # type: ignore[no-untyped-def]
    from traytrader.commands.demo_cmd import demo_config, demo_credentials
    from traytrader.engine.api import EngineState
    from traytrader.sim import SimOptions, SimThread
    from traytrader.ui.app import DesktopApp
    from traytrader.ui.menu_model import Action
    from traytrader.ui.tray_app import DesktopOptions, TrayApp, engine_factory

    sim = SimThread(SimOptions(port=0, seed=7)).start()
    config = demo_config(sim.rest_url, sim.ws_api_url, sim.stream_url)
    app = DesktopApp(config, engine_factory(config, desktop.tmp / "journal.sqlite3"),
                     preset_credentials=demo_credentials(), demo=True)
    tray_app = TrayApp(app, DesktopOptions(backend="gtk", socket_path=desktop.tmp / "s" / "control.sock"))
    runner = threading.Thread(target=tray_app.run, name="screenshots-tray")
    runner.start()
    try:
        wait(tray_app.ready.is_set)
        wait(lambda: app.ui.status.state is EngineState.READY, 15)
        # a second symbol's position first (the sol-qty profile), then back to BTCUSDT
        app.do(Action.SELECT_PROFILE, "sol-qty")
        wait(lambda: app.ui.status.profile == "sol-qty")
        app.do(Action.BUY)
        wait(lambda: app.ui.status.position_qty > 0)
        app.do(Action.SELECT_PROFILE, "btc-100")
        wait(lambda: app.ui.status.profile == "btc-100")
        time.sleep(0.6)
        subprocess.run(["dunstctl", "close-all"], check=False, env=os.environ.copy())
        subprocess.run(["xdotool", "key", "ctrl+b"], check=True)
        wait(lambda: app.ui.status.position_qty > 0 and len(app.ui.status.positions) == 2)
        app.do(Action.TOGGLE_ACTION_BAR)
        wait(lambda: tray_app.bar is not None and tray_app.bar.visible)
        time.sleep(1.5)  # the stop notification arrives; the bar gets a mark price
        print(shot("desktop", (0, 0, 1280, 800)))   # the bar clear of the tray and the notifications
        print(shot("action-bar", (0, 652, 920, 92)))
        subprocess.run(["xdotool", "key", "ctrl+s"], check=True)   # closes the BTCUSDT long
        wait(lambda: app.ui.status.position_qty == 0)
        time.sleep(1.0)
        print(shot("notification", (780, 0, 500, 330)))
        subprocess.run(["dunstctl", "close-all"], check=False, env=os.environ.copy())  # clear for the menu
        app.do(Action.TOGGLE_ACTION_BAR)
        wait(lambda: not tray_app.bar.visible)
        subprocess.run(["xdotool", "mousemove", "1264", "16", "click", "3"], check=True)
        subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--class", "traytrader"],
                       check=True, capture_output=True, timeout=5)
        subprocess.run(["xdotool", "key", "Down", "Down", "Right"], check=True)  # open Profiles
        time.sleep(0.5)
        print(shot("tray-menu", (880, 0, 400, 320)))
        subprocess.run(["xdotool", "key", "Escape", "Escape"], check=True)
    finally:
        tray_app.quit()
        runner.join(3)
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
